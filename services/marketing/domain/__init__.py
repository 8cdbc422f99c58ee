"""The marketing department's business: lead life cycle, campaigns and their attribution."""
