"""Procurement domain: pure rules and the transactions on suppliers, purchase orders, receipts and reorder rules."""
