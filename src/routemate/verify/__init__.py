"""Checking code by running it: what a request asks for (spec), the checks of one answer (checks),
generated inputs and agreement among several samples (inputs, agreement), the sandbox. No HTTP, no
terminal, no model calls: the service (``routemate.verified``) orchestrates ask → check → escalate."""
