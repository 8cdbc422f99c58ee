"""The finance domain: pure rules, and the transactions that issue invoices and book payments."""
