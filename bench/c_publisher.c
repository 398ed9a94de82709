/* The C limit for bench/e2e.py: a publisher on libmosquitto that does nothing but publish.

   c_publisher HOST PORT TOPIC QOS COUNT BYTES [WINDOW]

   Connects with MQTT 5 and TCP_NODELAY, then publishes COUNT messages of BYTES bytes
   (not retained, no properties) to TOPIC at QOS as fast as the broker takes them: at
   most WINDOW (default 1000, the Receive Maximum of queue/mosquitto.conf's broker)
   unacknowledged at QoS 1, and at most WINDOW not yet written at QoS 0. Exits 0 once
   every message is acknowledged (QoS 1) or written (QoS 0), and disconnects.
   Built by bench/e2e.py: gcc -O2 c_publisher.c -lmosquitto (Debian: libmosquitto-dev). */

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long done; /* acknowledged (QoS 1) or written (QoS 0) */
static int connected;

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	(void)mosq;
	(void)obj;
	if (rc) {
		fprintf(stderr, "c_publisher: connection refused: %s\n", mosquitto_connack_string(rc));
		exit(1);
	}
	connected = 1;
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
	(void)mosq;
	(void)obj;
	(void)mid;
	done++;
}

static void serve(struct mosquitto *mosq, int timeout_ms)
{
	int rc = mosquitto_loop(mosq, timeout_ms, 1);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "c_publisher: %s\n", mosquitto_strerror(rc));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: c_publisher HOST PORT TOPIC QOS COUNT BYTES [WINDOW]\n");
		return 2;
	}
	const char *host = argv[1];
	int port = atoi(argv[2]);
	const char *topic = argv[3];
	int qos = atoi(argv[4]);
	long count = atol(argv[5]);
	int bytes = atoi(argv[6]);
	long window = argc > 7 ? atol(argv[7]) : 1000;

	char *payload = malloc(bytes);
	memset(payload, 'x', bytes);

	mosquitto_lib_init();
	struct mosquitto *mosq = mosquitto_new(NULL, 1, NULL);
	mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, (int)window);
	mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_callback_set(mosq, on_connect);
	mosquitto_publish_callback_set(mosq, on_publish);
	if (mosquitto_connect(mosq, host, port, 60) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "c_publisher: cannot connect to %s:%d\n", host, port);
		return 1;
	}
	while (!connected)
		serve(mosq, 1000);

	for (long sent = 0; sent < count;) {
		if (sent - done >= window) {
			serve(mosq, 1000); /* wait for acks, or for the socket to take more */
			continue;
		}
		int rc = mosquitto_publish(mosq, NULL, topic, bytes, payload, qos, false);
		if (rc != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "c_publisher: publish: %s\n", mosquitto_strerror(rc));
			return 1;
		}
		sent++;
		if ((sent & 63) == 0)
			serve(mosq, 0); /* read the acks that came meanwhile */
	}
	while (done < count)
		serve(mosq, 1000);
	mosquitto_disconnect(mosq);
	mosquitto_loop(mosq, 100, 1); /* sends the DISCONNECT; then "not connected" */
	mosquitto_destroy(mosq);
	mosquitto_lib_cleanup();
	free(payload);
	return 0;
}
