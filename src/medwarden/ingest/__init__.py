"""Transports that bring signed device records into medwarden (MQTT; HTTPS lives in the API).

* :mod:`.ports` — the ingest port every transport calls, and how its errors map to results.
* :mod:`.wire` — MQTT topics and the batch / receipts message formats.
* :mod:`.mqtt` — :class:`~medwarden.ingest.mqtt.MqttIngestor`, the backend's subscriber
  (settings and counters in :mod:`.settings`).
* :mod:`.mqtt_client` — :class:`~medwarden.ingest.mqtt_client.MqttDeviceClient` for
  simulated devices and tests.
* :mod:`.mosquitto` — broker configuration, ACL and password files for Eclipse Mosquitto.
* :mod:`.certs` — a throw-away CA and server certificate for tests and dev setups.

See ``docs/mqtt.md``.  medwarden is a monitor: no transport here carries anything *to* a
device except receipts for what it sent.
"""
