"""The report's charts: SVG a page can hold as it is — no prolog, no web address, ids of
its own — with a line per class (and the total), the percentiles, or a note when empty."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from simulator.adapters.charts import latency_chart, rates_chart

T = [0.0, 0.25, 0.5, 0.75, 1.0]
COUNTS = {"session": [0, 5, 10, 15, 20], "mail": [0, 1, 2, 3, 4], "custom/32001": [0, 0, 1, 1, 1]}


def ids(svg: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', svg))


def test_a_rates_chart_has_a_line_per_class_and_the_total() -> None:
    svg = rates_chart(T, COUNTS, title="records", chart_id="run-rates")
    ET.fromstring(svg)  # well-formed XML on its own
    assert svg.startswith("<svg")
    assert {"run-rates", "run-rates-session", "run-rates-mail", "run-rates-custom/32001"} <= ids(
        svg
    )
    assert "run-rates-total" in ids(svg)
    assert not re.search(r"<\?xml|<!DOCTYPE|<metadata", svg)
    # The namespaces are the only web addresses in it; nothing is fetched from them.
    assert set(re.findall(r"https?://[^\"' ]+", svg)) <= {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }
    assert ' width="' not in svg.split(">", 1)[0]  # scales to the page
    assert "viewBox" in svg.split(">", 1)[0]


def test_two_charts_on_one_page_share_no_id() -> None:
    rates = rates_chart(T, COUNTS, title="records", chart_id="a")
    latency = latency_chart(
        T,
        {"p50": [None, 1.0, 2.0, 1.0, 1.0], "p99": [None, 5.0, 9.0, 4.0, 3.0]},
        title="latency",
        chart_id="b",
    )
    assert ids(rates).isdisjoint(ids(latency))
    assert all(i == "a" or i.startswith("a-") for i in ids(rates))
    # Each reference points at an id of its own picture.
    for svg, prefix in ((rates, "a"), (latency, "b")):
        for ref in re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', svg):
            target = ref[0] or ref[1]
            assert target.startswith(f"{prefix}-") and target in ids(svg)
    assert {"b-p50", "b-p99"} <= ids(latency)


def test_nothing_to_draw_says_so_instead_of_failing() -> None:
    assert "rates-session" not in ids(rates_chart([0.0], {"session": [0]}, title="records"))
    empty = latency_chart(T, {"p50": [None] * 5}, title="latency")
    assert "latency-p50" not in ids(empty)


def test_a_few_intervals_of_latency_are_marked_with_dots_many_are_not() -> None:
    """One interval of a long run is a sliver of a step: a dot per percentile shows it."""
    times = [float(t) for t in range(36)]
    one: dict[str, list[float | None]] = {
        name: [None] * 36 for name in ("p50", "p90", "p99", "max")
    }
    for values in one.values():
        values[15] = 106.4
    few = latency_chart(times, one, title="latency")
    many = latency_chart(times, {name: [None, *[2.0] * 35] for name in one}, title="latency")
    dots = {f"latency-{name}-dots" for name in one}
    assert dots <= ids(few)  # a dot for each percentile
    assert not dots & ids(many)
