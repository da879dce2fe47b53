"""Tamper evidence: verification of every hash chain, signed checkpoints, evidence bundles
(checked offline) and the access ledger of who read what.
"""
