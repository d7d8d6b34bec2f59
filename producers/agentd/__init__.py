"""agentd: the per-machine daemon that forwards the spool to Kafka and syncs skills."""
