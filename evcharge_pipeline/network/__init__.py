"""Network enhancement plan: the phased MILP, its greedy start, verifier, diagnosis and reports.

Plain Python (no Dagster): frames in, dataclasses and frames out.
"""

from evcharge_pipeline.network.config import COST_SCENARIOS, NetworkConfig, with_cost_scenario
from evcharge_pipeline.network.plan import NetworkPlanResult, plan_network
from evcharge_pipeline.network.verifier import VerificationReport, verify_plan

__all__ = ["COST_SCENARIOS", "NetworkConfig", "NetworkPlanResult", "VerificationReport", "plan_network",
           "verify_plan", "with_cost_scenario"]
