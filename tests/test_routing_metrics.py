"""Routing metrics against tiny cases computed by hand."""

import pytest

from routemate.routing import metrics

# 4 prompts; weak passes only #2, strong passes #0-#2: weak 0.25, strong 0.75, gap 0.5
WEAK = [0, 0, 1, 0]
STRONG = [1, 1, 1, 0]
ROUTER = [0.9, 0.2, 0.5, 0.1]     # sends #0, then #2 (no gain), then #1, then #3 (no gain)


def test_curve_steps_through_prompts_in_score_order():
    c = metrics.curve(ROUTER, WEAK, STRONG)
    assert c.shares == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert c.qualities == pytest.approx((0.25, 0.5, 0.5, 0.75, 0.75))
    assert (c.weak, c.strong) == (0.25, 0.75)


def test_apgr_is_the_trapezoid_area_over_the_gap():
    # area above weak: .25*(0+.25)/2 + .25*.25 + .25*(.25+.5)/2 + .25*.5 = .3125; / .5
    assert metrics.apgr(metrics.curve(ROUTER, WEAK, STRONG)) == pytest.approx(0.625)


def test_cpt_interpolates_along_the_curve():
    c = metrics.curve(ROUTER, WEAK, STRONG)
    assert metrics.cpt(c, 0.5) == pytest.approx(0.25)    # quality .5 reached at the first step
    assert metrics.cpt(c, 0.8) == pytest.approx(0.65)    # .65 lies 60% of the way from share .5 to .75
    assert metrics.cpt(c, 0.95) == pytest.approx(0.725)


def test_a_constant_router_is_random_routing():
    c = metrics.curve([0.3] * 4, WEAK, STRONG)
    assert c.shares == (0.0, 1.0)
    assert metrics.apgr(c) == pytest.approx(0.5)
    assert metrics.cpt(c, 0.8) == pytest.approx(0.8)


def test_oracle_takes_weak_when_it_is_as_good():
    quality, share = metrics.oracle(WEAK, STRONG)
    assert (quality, share) == (0.75, 0.5)


def test_summary_reports_random_and_the_best_ordering():
    s = metrics.summary(ROUTER, WEAK, STRONG)
    assert s["n"] == 4 and s["apgr"] == pytest.approx(0.625)
    assert set(s["cpt"]) == {"50", "80", "95"}
    assert s["random"]["apgr"] == 0.5 and s["random"]["cpt"]["80"] == 0.8
    # ordering by gain: .25→.5, .5→.75, flat: area .03125 + .09375 + .25 = .375 → .75
    assert s["oracle"]["apgr"] == pytest.approx(0.75)
    assert s["oracle_quality"] == 0.75 and s["oracle_strong_share"] == 0.5


def test_soft_scores_and_inverted_router():
    weak, strong = [0.2, 0.6], [1.0, 0.6]
    best = metrics.apgr(metrics.curve([1, 0], weak, strong))
    worst = metrics.apgr(metrics.curve([0, 1], weak, strong))
    assert best == pytest.approx(0.75) and worst == pytest.approx(0.25)
    assert best + worst == pytest.approx(1.0)


def test_no_gap_means_no_apgr():
    c = metrics.curve([0.1, 0.2], [1, 0], [0, 1])
    assert metrics.apgr(c) is None and metrics.cpt(c, 0.8) is None


def test_threshold_for_share_matches_the_sweep():
    c = metrics.curve(ROUTER, WEAK, STRONG)
    assert metrics.threshold_for_share(c, 0.5) == 0.5
    assert metrics.threshold_for_share(c, 0.0) == float("inf")
    assert sum(r >= metrics.threshold_for_share(c, 0.75) for r in ROUTER) == 3
