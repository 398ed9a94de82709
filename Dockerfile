# The billsim image: the simulator and `billsim tail`, for docker-compose.yml or any runner.
#
#   docker build -t billsim .
#   docker run --rm billsim run lifecycle-demo --speed 60x --broker mqtt://HOST:1883
#
# The broker is a service of its own (eclipse-mosquitto in docker-compose.yml): this image
# has no mosquitto, so give `run` a --broker (its embedded broker needs mosquitto or amqtt).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# What the wheel is built from: the package, and the scenarios and queue/ files that
# pyproject.toml puts inside it (simulator/_scenarios, simulator/_queue).
COPY pyproject.toml README.md ./
COPY simulator ./simulator
COPY scenarios ./scenarios
COPY queue ./queue
RUN pip install . && rm -rf /src

# No reason to be root: billsim only opens outgoing connections.
RUN useradd --system --uid 10001 --no-create-home billsim
USER billsim
WORKDIR /home/billsim

ENTRYPOINT ["billsim"]
CMD ["--help"]
