"""Procurement: suppliers, purchase orders, goods receipt, quality control, reorder rules."""
