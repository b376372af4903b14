"""The maintained park other than charging stations (issue 13 §4): servers, storage, network, IoT
sensors and gateways, alert terminals."""
