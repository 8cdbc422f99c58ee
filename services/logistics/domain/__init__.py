"""The logistics domain: pure rules, and the transactions on stock, fulfilment and shipments."""
