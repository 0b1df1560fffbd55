"""A reference model of one product in exact rational arithmetic (``fractions.Fraction``),
re-derived from SPEC.md §1-§2 and independent of ``domain/vault_math.py``.

It follows the domain's events one decision at a time. What the SPEC fixes exactly (fees
owed rounded up, sale proceeds down, purchases up, the debt valued up, funding exact over
time, Set Protocol's streaming fee, pro-rata settlement) it computes itself and requires
to the base unit. What the domain chooses (the size of a hedge trade, tokens minted, a
redemption's payout) it bounds by the exact value ± the rounding of SPEC §1, then adopts.
Its own books (cash, debt, balances, collateral paid in and out, fees, every ledger
account) must equal the domain's state after every decision; NAV and leverage must lie
within one base unit of equity of the exact values. It also keeps "no free money" per
holder: in a window where only that holder trades and nothing can raise NAV (no price
change, no funding received, no other holder's rounding dust), it never gets out more
collateral than it paid in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from fractions import Fraction

from domain import events as ev
from domain.model import LOCKED_HOLDER, MINIMUM_LOCKED_SUPPLY, TREASURY_HOLDER, ProductState

WAD = 10**18
BPS = 10_000
YEAR_S = 365 * 24 * 3600
TOKEN_DECIMALS = 18


def ceil_(x: Fraction) -> int:
    return -(-x.numerator // x.denominator)


def floor_(x: Fraction) -> int:
    return x.numerator // x.denominator


def _over(numerator: Fraction, denominator: Fraction) -> Fraction:
    """``numerator / denominator`` for an upper bound; unbounded when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else Fraction(10**80)


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise AssertionError(f"reference model disagrees: {what}")


class ReferenceModel:
    """The exact books of one product, checked against every event the domain decides."""

    def __init__(self, launch: ev.ProductLaunched) -> None:
        p = launch.params
        self.p = p
        self.scale = 10**p.collateral_decimals
        self.target = Fraction(-p.target_leverage_wad, WAD)
        self.cost = Fraction(p.execution_cost_bps, BPS)
        self.quantities = {c.symbol: c.quantity_wad for c in launch.components}
        self.price = 0  # accepted index price (WAD)
        self.cash = 0
        self.debt_units = 0
        self.balances: Counter[str] = Counter()
        self.paid_in: Counter[str] = Counter()
        self.paid_out: Counter[str] = Counter()
        self.fees = 0  # collateral paid to the treasury
        self.market = 0  # the market's ledger account
        self.funding_rate = 0
        self.funding_owed = Fraction(0)  # exact funding owed by the vault since launch
        self.funding_paid = 0
        self.accrued_at = launch.at
        self.halted = self.paused = self.settled = False
        self.bad_debt = 0
        self.windows: dict[str, list[int]] = {}  # holder -> [paid in, paid out] while quiet
        self.round_trips_checked = 0
        self._resolving = False

    # Exact values, in collateral base units.
    @property
    def supply(self) -> int:
        return sum(self.balances.values())

    def debt_value(self, units: int | None = None, price: int | None = None) -> Fraction:
        units = self.debt_units if units is None else units
        return Fraction(units * (self.price if price is None else price) * self.scale, WAD * WAD)

    def equity(self, cash: int | None = None, units: int | None = None) -> Fraction:
        return (self.cash if cash is None else cash) - self.debt_value(units)

    def one_index_wei(self) -> Fraction:
        """The value of 10⁻¹⁸ index units: the rounding of a trade's size."""
        return self.debt_value(1)

    def nav_bounds_wad(self) -> tuple[int, int]:
        """NAV per token (WAD) lies within one base unit of equity below its exact value."""
        supply = self.supply
        if supply == 0:
            return WAD, WAD
        per_unit = Fraction(WAD * WAD, supply * self.scale)
        if self.settled:
            return floor_(self.cash * per_unit), floor_(self.cash * per_unit)
        e = self.equity()
        return floor_(max(e - 1, Fraction(0)) * per_unit), floor_(max(e, Fraction(0)) * per_unit)

    def leverage_bounds_wad(self, cash: int | None = None, units: int | None = None) -> tuple[int, int]:
        """|leverage| (WAD): at least exact, at most debt + 1 over equity − 1 (rounding)."""
        dv, e = self.debt_value(units), self.equity(cash, units)
        high = ceil_((dv + 1) * WAD / (e - 1)) if e > 1 else 10**80
        return ceil_(dv * WAD / e), high

    # Applying one decision.
    def apply(self, events: Sequence[ev.Event]) -> None:
        for event in events:
            handler = getattr(self, "_on_" + type(event).__name__)
            handler(event)

    def _close_windows(self, keep: str | None = None) -> None:
        self.windows = {h: w for h, w in self.windows.items() if h == keep}

    def _on_PriceReported(self, e: ev.PriceReported) -> None:
        pass

    def _index(self, component_prices: tuple[tuple[str, int], ...]) -> int:
        return ceil_(Fraction(sum(self.quantities[s] * p for s, p in component_prices), WAD))

    def _on_PriceAccepted(self, e: ev.PriceAccepted) -> None:
        _check(e.index_price_wad == self._index(e.component_prices), f"index price of {e}")
        _check(e.previous_index_price_wad == self.price, "previous index price")
        if self.price:
            move = Fraction(abs(e.index_price_wad - self.price), self.price)
            _check(self._resolving or move * WAD <= self.p.max_price_move_wad, f"unconfirmed move {move}")
        self._resolving = False
        if e.index_price_wad != self.price:
            self._close_windows()
        self.price = e.index_price_wad

    def _on_CircuitBreakerTripped(self, e: ev.CircuitBreakerTripped) -> None:
        pending = e.pending
        _check(not self.halted and e.last_index_price_wad == self.price, "trip while halted")
        _check(pending.index_price_wad == self._index(pending.component_prices), "pending index price")
        exact_move = ceil_(Fraction(abs(pending.index_price_wad - self.price) * WAD, self.price))
        _check(pending.move_wad == exact_move > self.p.max_price_move_wad, f"tripped on {pending}")
        self.halted = True

    def _on_HaltResolved(self, e: ev.HaltResolved) -> None:
        _check(self.halted, "halt resolved while not halted")
        self.halted = False
        self._resolving = e.accepted

    def _on_FundingRateSet(self, e: ev.FundingRateSet) -> None:
        _check(e.previous_funding_rate_wad == self.funding_rate, "previous funding rate")
        self.funding_rate = e.funding_rate_wad

    def _on_Accrued(self, e: ev.Accrued) -> None:
        elapsed = e.at - self.accrued_at
        _check(elapsed > 0 and e.accrued_from == self.accrued_at and not self.settled, "accrual period")
        notional = ceil_(self.debt_value())  # the debt is valued rounding up
        _check(e.debt_notional == notional, f"funding notional {e.debt_notional} != {notional}")
        self.funding_owed += Fraction(notional * self.funding_rate * elapsed, WAD * YEAR_S)
        paid = floor_(self.funding_owed) - self.funding_paid  # exact over time, vault's favour
        _check(e.funding_paid == paid, f"funding paid {e.funding_paid} != {paid}")
        share = min(Fraction(self.p.streaming_fee_bps * elapsed, BPS * YEAR_S), Fraction(1, 2))
        fee_tokens = floor_(self.supply * share / (1 - share))  # Set Protocol's streaming fee
        _check(
            e.streaming_fee_tokens == fee_tokens, f"streaming fee {e.streaming_fee_tokens} != {fee_tokens}"
        )
        self.funding_paid += paid
        self.cash -= paid
        self.balances[TREASURY_HOLDER] += fee_tokens
        self.accrued_at = e.at
        if paid < 0:
            self._close_windows()  # funding received raises NAV

    def _hedge_ratio(self) -> Fraction:
        return self.target if self.supply == 0 or self.debt_units == 0 else self.debt_value() / self.equity()

    def _on_Minted(self, e: ev.Minted) -> None:
        _check(not (self.paused or self.halted or self.settled), "mint while not active")
        first = self.supply == 0
        fee = ceil_(Fraction(e.collateral_in * self.p.mint_fee_bps, BPS))
        _check(e.fee == fee, f"mint fee {e.fee} != {fee}")
        net = e.collateral_in - fee
        # Leverage unchanged, cost borne by the minter: notional n solves n = (net − n·c) × ℓ.
        dv, e_before = self.debt_value(), self.equity()
        ratio_low = self._hedge_ratio()
        ratio_high = ratio_low if first or self.debt_units == 0 else _over(dv + 1, e_before - 1)
        shrink = Fraction(1) if first or self.debt_units == 0 else dv / (dv + 1)
        low = (net * ratio_low / (1 + ratio_low * self.cost) - 1) * shrink - self.one_index_wei() - 1
        high = net * ratio_high / (1 + ratio_high * self.cost)
        proceeds = floor_(self.debt_value(e.units_sold_wad))
        cost = ceil_(proceeds * self.cost)
        _check((e.sale_proceeds, e.execution_cost) == (proceeds, cost), f"sale of {e.units_sold_wad}")
        _check(low < proceeds <= high, f"hedge sale {proceeds} outside ({float(low)}, {float(high)}]")
        cash_after = self.cash + net + proceeds - cost
        units_after = self.debt_units + e.units_sold_wad
        _check((e.cash_after, e.debt_units_after_wad) == (cash_after, units_after), "vault after mint")
        added = self.equity(cash_after, units_after) - e_before
        tokens = e.tokens_minted + e.tokens_locked
        if first:
            per_unit = 10 ** (TOKEN_DECIMALS - self.p.collateral_decimals)
            ok = tokens % per_unit == 0 and added - 1 < tokens // per_unit < added + 1
            _check(ok and e.tokens_locked == MINIMUM_LOCKED_SUPPLY, f"first mint of {tokens} tokens")
        else:
            # At most the exact share of equity added (no dilution), at least that share with
            # both equities misjudged by a base unit in the vault's favour.
            s = self.supply
            low_t, high_t = floor_((added - 2) * s / (e_before + 1)) - 1, floor_(added * s / e_before)
            _check(e.tokens_locked == 0 and low_t <= tokens <= high_t, f"{tokens} not in [{low_t}, {high_t}]")
        if e.holder_id not in self.windows and self.balances[e.holder_id] == 0:
            self.windows[e.holder_id] = [0, 0]
        self._close_windows(keep=e.holder_id)
        if e.holder_id in self.windows:
            self.windows[e.holder_id][0] += e.collateral_in
        self.cash, self.debt_units = cash_after, units_after
        self.balances[e.holder_id] += e.tokens_minted
        self.balances[LOCKED_HOLDER] += e.tokens_locked
        self.paid_in[e.holder_id] += e.collateral_in
        self.fees += fee
        self.market += cost - proceeds

    def _paid_out(self, holder: str, out: int) -> None:
        self._close_windows(keep=holder)
        self.paid_out[holder] += out
        if holder in self.windows:
            window = self.windows[holder]
            window[1] += out
            self.round_trips_checked += 1
            _check(window[1] <= window[0], f"no free money: {holder} paid in {window[0]}, got {window[1]}")

    def _on_Redeemed(self, e: ev.Redeemed) -> None:
        t, s = e.tokens_burned, self.supply
        _check(not (self.halted or self.settled) and 0 < t <= self.balances[e.holder_id], "redeem allowed")
        units = min(ceil_(Fraction(self.debt_units * t, s)), self.debt_units)  # repays at least its share
        purchase = ceil_(self.debt_value(units))
        cost = ceil_(purchase * self.cost)
        _check((e.units_bought_wad, e.purchase_cost, e.execution_cost) == (units, purchase, cost), "buy-back")
        share, e_before = Fraction(t, s), self.equity()
        # At most the redeemed share of equity, less what its own trade lost (no dilution of
        # the others); at least that less five base units of rounding.
        traded = self.equity(self.cash - purchase - cost, self.debt_units - units)
        high = min(share * e_before, traded - (1 - share) * e_before)
        low = share * e_before - share * self.debt_value() * self.cost - self.one_index_wei() * self.cost - 5
        _check(low < e.gross_out <= high, f"gross {e.gross_out} outside ({float(low)}, {float(high)}]")
        fee = ceil_(Fraction(e.gross_out * self.p.redeem_fee_bps, BPS))
        _check((e.fee, e.collateral_out) == (fee, e.gross_out - fee), "redeem fee and payout")
        self.cash -= purchase + cost + e.gross_out
        self.debt_units -= units
        _check((e.cash_after, e.debt_units_after_wad) == (self.cash, self.debt_units), "vault after redeem")
        self.balances[e.holder_id] -= t
        self.fees += fee
        self.market += purchase + cost
        self._paid_out(e.holder_id, e.collateral_out)

    def _on_Transferred(self, e: ev.Transferred) -> None:
        _check(0 < e.tokens <= self.balances[e.from_holder_id], "transfer within balance")
        self.balances[e.from_holder_id] -= e.tokens
        self.balances[e.to_holder_id] += e.tokens
        self.windows.pop(e.to_holder_id, None)  # tokens received, not paid for

    def _on_FeesClaimed(self, e: ev.FeesClaimed) -> None:
        _check(0 < e.tokens <= self.balances[TREASURY_HOLDER], "claim within the treasury")
        _check(e.to_holder_id not in (TREASURY_HOLDER, LOCKED_HOLDER), "claim to a holder")
        self.balances[TREASURY_HOLDER] -= e.tokens
        self.balances[e.to_holder_id] += e.tokens
        self.windows.pop(e.to_holder_id, None)  # tokens received, not paid for

    def _on_Rebalanced(self, e: ev.Rebalanced) -> None:
        _check(not (self.halted or self.settled) and self.supply > 0, "rebalance allowed")
        lev_low, lev_high = self.leverage_bounds_wad()
        _check(lev_low <= -e.leverage_before_wad <= lev_high, f"leverage before {e.leverage_before_wad}")
        goal = Fraction(-e.goal_leverage_wad, WAD) if e.goal_leverage_wad else self.target
        if e.reason == "ripcord" or self.p.recentering_speed_wad == WAD:
            _check(goal == self.target, f"goal {e.goal_leverage_wad} is the target")
        # Debt value wanted − debt value, with the trade's own cost paid from equity (issue 14).
        gap = goal * self.equity() - self.debt_value()
        gap /= 1 + goal * self.cost if gap >= 0 else 1 - goal * self.cost
        slack = goal + 2 + self.one_index_wei()
        _check(e.side == ("sell" if gap >= goal + 2 else "buy" if gap < 0 else e.side), "side")
        value = self.debt_value(e.units_wad)
        if e.side == "sell":
            notional = floor_(value)
            self.cash, self.debt_units = self.cash + notional, self.debt_units + e.units_wad
        else:
            notional = ceil_(value)
            self.cash, self.debt_units = self.cash - notional, self.debt_units - e.units_wad
        cost = ceil_(notional * self.cost)
        self.cash -= cost
        _check((e.notional, e.execution_cost) == (notional, cost), "rebalance notional and cost")
        cap = 0 if e.reason == "ripcord" else self.p.max_trade_notional
        if e.capped:
            _check(0 < cap < abs(gap) + slack and cap - self.one_index_wei() < value <= cap, "capped size")
        else:
            _check(abs(value - abs(gap)) < slack and not (cap and abs(gap) - slack > cap), "trade size")
        _check((e.cash_after, e.debt_units_after_wad) == (self.cash, self.debt_units), "vault after trade")
        if self.equity() > 0:
            lev_low, lev_high = self.leverage_bounds_wad()
            _check(lev_low <= -e.leverage_after_wad <= lev_high, f"leverage after {e.leverage_after_wad}")
        self.market -= notional if e.side == "sell" else -notional
        self.market += cost
        self._close_windows()

    def _on_Paused(self, e: ev.Paused) -> None:
        _check(not self.paused, "pause twice")
        self.paused = True

    def _on_Resumed(self, e: ev.Resumed) -> None:
        _check(self.paused, "resume while active")
        self.paused = False

    def _on_IndexReconstituted(self, e: ev.IndexReconstituted) -> None:
        _check(e.index_price_before_wad == self.price, "index price before reconstitution")
        self.quantities = {c.symbol: c.quantity_wad for c in e.components}
        after = self._index(e.component_prices)
        # Quantities have a resolution of one wei: each may lose up to its price in index wei.
        jump = ceil_(Fraction(sum(p for _, p in e.component_prices), WAD))
        _check(
            e.index_price_after_wad == after and 0 <= self.price - after <= jump, f"index price after {after}"
        )
        self.price = after
        self._close_windows()

    def _on_Settled(self, e: ev.Settled) -> None:
        owed = ceil_(self.debt_value())
        repaid = min(max(self.cash, 0), owed)
        _check((e.debt_value, e.repaid, e.bad_debt) == (owed, repaid, owed - repaid), "settlement")
        _check(e.reason != "equity wiped out" or self.equity() < 1, "settled a solvent vault as wiped out")
        self.cash -= repaid
        self.market += repaid
        self.debt_units = 0
        self.bad_debt += owed - repaid
        self.settled = True

    def _on_SettlementRedeemed(self, e: ev.SettlementRedeemed) -> None:
        _check(self.settled and 0 < e.tokens_burned <= self.balances[e.holder_id], "settlement redeem")
        out = floor_(Fraction(e.tokens_burned * max(self.cash, 0), self.supply))
        _check(e.collateral_out == out, f"pro-rata payout {e.collateral_out} != {out}")
        self.cash -= out
        self.balances[e.holder_id] -= e.tokens_burned
        self._paid_out(e.holder_id, out)

    # Comparing with the domain.
    def ledger(self) -> dict[str, int]:
        accounts = {"vault": self.cash, "treasury": self.fees, "lender": self.funding_paid}
        accounts["market"] = self.market
        for holder in self.paid_in.keys() | self.paid_out.keys():
            accounts["holder:" + holder] = self.paid_out[holder] - self.paid_in[holder]
        return accounts

    def mismatches(self, state: ProductState) -> list[str]:
        """Every figure on which the domain's state differs from the model's."""
        found = []
        vault = state.vault
        mine = (self.cash, self.debt_units, self.supply, self.bad_debt, self.price)
        theirs = (vault.cash, vault.debt_units_wad, vault.supply, state.bad_debt, state.index_price_wad)
        if mine != theirs:
            found.append(f"(cash, debt units, supply, bad debt, price): model {mine}, domain {theirs}")
        balances = {h: b for h, b in self.balances.items() if b != 0}
        if balances != dict(state.balances):
            found.append(f"balances: model {balances}, domain {dict(state.balances)}")
        mine_ledger = self.ledger()
        for account in mine_ledger.keys() | state.ledger.keys():
            if mine_ledger.get(account, 0) != state.ledger.get(account, 0):
                mine, theirs = mine_ledger.get(account, 0), state.ledger.get(account, 0)
                found.append(f"ledger[{account}]: model {mine}, domain {theirs}")
        if sum(mine_ledger.values()) != 0:
            found.append(f"model ledger sums to {sum(mine_ledger.values())}")
        flags = (self.halted, self.paused, self.settled)
        if flags != (state.halted, state.paused, state.settled):
            domain_flags = (state.halted, state.paused, state.settled)
            found.append(f"(halted, paused, settled): model {flags}, domain {domain_flags}")
        return found
