//! Alert delivery to Alertmanager.
