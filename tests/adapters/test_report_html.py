"""The report page: the verdict before anything else, every text escaped, tables with a
numeric side, pictures inline, and nothing that would make a browser fetch."""

from __future__ import annotations

from browser import FETCHES

from simulator.adapters.report_html import (
    Note,
    Picture,
    Report,
    Section,
    Table,
    Verdict,
    render_html,
)


def page() -> str:
    return render_html(
        Report(
            title="run <1> & co",
            subtitle="from a.json",
            verdict=Verdict(
                False,
                "DIFFERENT: 1 difference",
                ["threshold max-p99 missed"],
                [Table(("user", "field"), [("CN=A <x>/O=B", "mail")], table_id="differences")],
            ),
            sections=[
                Section(
                    "The run",
                    "run",
                    [
                        Table(("class", "records"), [("session", "5")], table_id="classes"),
                        Picture('<svg id="chart"></svg>', "a chart", "chart-figure"),
                        Note("a note & more"),
                    ],
                )
            ],
        )
    )


def test_the_verdict_comes_first_and_says_failed() -> None:
    text = page()
    body = text.split("<body>", 1)[1]
    assert body.index('id="verdict"') < body.index("<nav>") < body.index('id="run"')
    assert 'class="verdict failed"' in text
    assert "FAILED" in text
    assert "threshold max-p99 missed" in text


def test_every_text_is_escaped_and_the_svg_goes_in_as_it_is() -> None:
    text = page()
    assert "<title>run &lt;1&gt; &amp; co</title>" in text
    assert "CN=A &lt;x&gt;/O=B" in text
    assert "a note &amp; more" in text
    assert '<figure id="chart-figure"><svg id="chart"></svg><figcaption>a chart' in text


def test_numbers_are_right_aligned_and_tables_keep_their_ids() -> None:
    text = page()
    assert '<table id="classes">' in text
    assert '<td>session</td><td class="num">5</td>' in text


def test_the_page_fetches_nothing() -> None:
    assert not FETCHES.search(page())
    assert FETCHES.search('<img src="https://example.org/a.png">')
    assert FETCHES.search("<link rel=stylesheet href=//cdn/x.css>")
