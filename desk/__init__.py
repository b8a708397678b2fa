"""The service-desk domain: pure rules (calendar, SLA, classification, threading, routing) and its tables."""
