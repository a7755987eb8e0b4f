"""Interval-tier learning: reward, pools v2, offline RL, CMA-ES, behaviour policies."""
