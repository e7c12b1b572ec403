"""Tests of the MQTT ingest adapter against a real mosquitto broker."""
