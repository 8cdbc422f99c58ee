"""The compliance domain: pure rules and the transactions that screen, decide and keep the lists."""
