"""The sales domain: pure rules, and the transactions on the catalogue, accounts, quotes and orders."""
