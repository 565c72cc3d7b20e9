"""Update rules shared by several algorithms (SAC, TD3, PPO/GAE) and their baseline agents.

``algo=sac``, ``algo=td3`` and ``algo=ppo`` run these agents through the runner; EPPO, HTR and
RLQP build on the same update rules.
"""
