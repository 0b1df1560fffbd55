"""A hypothesis state machine over the real node on a real store (SQLite and PostgreSQL).

Random commands go through ``Node.execute`` of two node instances sharing one fresh store,
beside a plain reference model: the pure domain (``decide``/``evolve``) fed the same
commands. Steps also restart the nodes (a cold load from snapshot plus later events),
retry earlier request ids, reuse them for other commands, and race the two instances in
threads (including both sending the same request). After every step:

- every stored decision is exactly what the domain decides for its request's command on
  the state before it (so no update was lost and nothing was invented), and replaying it
  through ``invariants.log.ProductReplay`` (the audit's own replay) breaks no law;
- no request id has events twice, and the requests with events are exactly the
  acknowledged ones that caused events;
- a fresh node loads the model's state and version, and so do the live nodes;
- every SPEC §4 state invariant holds, and the store's audit is clean.

Nodes come from ``tests.store.factory.open_node`` only, so the machine can run against
another writer behind the same interface.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ClassVar

import pytest
from attrs import define, field
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from adapters.audit.report import audit
from adapters.rejections import REJECTIONS
from adapters.store.codec import decode_event
from adapters.store.contract import ConcurrencyConflict, Outcome, RequestIdReused
from adapters.store.node import Node
from adapters.store.records import StoredProductEvent
from domain import commands as cmd
from domain.decide import decide
from domain.errors import DomainError, ProductNotFound
from domain.events import Event
from domain.evolve import evolve_all
from domain.fixedpoint import WAD
from domain.model import ProductState
from domain.params import default_params
from invariants.log import ProductReplay
from invariants.state import check_decision_end
from tests.store.conftest import STORE_KINDS, fresh_store, require_store
from tests.store.factory import open_node, open_writer_node, store_size
from tests.support import DEFAULT_COMPONENTS, DEFAULT_PRICES, USDC

T0 = 1_700_000_000
PRODUCTS = ("A", "B")
HOLDERS = ("alice", "bob", "carol")
REPORTERS = ("r1", "r2", "r3")
SYMBOLS = tuple(DEFAULT_PRICES)

writers = st.sampled_from((0, 1))
# Mostly the product launched at the start; B only once a rule launches it.
products = st.sampled_from(("A", "A", "A", "B"))
holders = st.sampled_from(HOLDERS)
# Redeems and transfers pick among the holders that have tokens (when any has).
holder_picks = st.integers(0, len(HOLDERS) - 1)
# Mostly moves inside the circuit breaker's 20 %, sometimes beyond it (a halt).
price_moves_bps = st.one_of(st.integers(-300, 300), st.integers(-2_500, 2_500))
collateral = st.one_of(st.integers(1, 10**4), st.integers(1, 50_000).map(lambda n: n * USDC))
fractions_bps = st.one_of(st.integers(0, 10_000), st.just(10_000), st.integers(10_001, 20_000))

# Scaled by the profile (tests/conftest.py): dev 3 examples, ci 18, deep 375 of longer runs.
MACHINE_SETTINGS = settings(
    max_examples=max(3, settings.default.max_examples // 8),
    stateful_step_count=40 if settings.default.max_examples <= 150 else 100,
    deadline=None,
)


@define
class Sent:
    """What a request id was sent with."""

    product_id: str
    command: cmd.Command
    now: int


@define
class Model:
    """A product as the reference model knows it: the replay of its verified stored events
    (the pure domain's state) and how many there are."""

    replay: ProductReplay = field(factory=ProductReplay)
    version: int = 0

    @property
    def state(self) -> ProductState | None:
        return self.replay.state


class NodeMachine(RuleBasedStateMachine):
    store_kind: ClassVar[str] = "sqlite"
    open_node: ClassVar[Callable[[str], Node]] = staticmethod(open_node)

    requests = Bundle("requests")

    def __init__(self) -> None:
        super().__init__()
        self._store = fresh_store(self.store_kind)
        self.url = self._store.__enter__()
        self.nodes: list[Node] = [self.open_node(self.url), self.open_node(self.url)]
        # A third node that never writes: it forgets its cache before each check, so its
        # loads are cold (latest snapshot plus later events), as a fresh process's are.
        self.checker = open_node(self.url)
        self.now = T0
        self.market = dict(DEFAULT_PRICES)
        self.models: dict[str, Model] = {}
        self.sent: dict[str, Sent] = {}
        self.acked: dict[str, Outcome] = {}
        self.applied: set[str] = set()
        self.launched: set[str] = set()
        self._ids = 0

    def teardown(self) -> None:
        for node in (*self.nodes, self.checker):
            node.close()
        self._store.__exit__(None, None, None)

    # Helpers -----------------------------------------------------------------------------

    def _new_request(self, product_id: str, command: cmd.Command) -> str:
        self._ids += 1
        request_id = f"rq-{self._ids}"
        self.sent[request_id] = Sent(product_id, command, self.now)
        return request_id

    def _model_state(self, product_id: str) -> ProductState | None:
        model = self.models.get(product_id)
        return model.state if model else None

    def _execute(
        self, writer: int, product_id: str, command: cmd.Command, request_id: str | None = None
    ) -> str:
        """Send ``command`` through node ``writer`` as a new request (or again under the id of a
        refused one, which stays free), expecting exactly what the pure domain decides on
        the model's state. The request id, acknowledged or not: what goes into the bundle
        must not depend on outcomes, which a race makes nondeterministic."""
        if request_id is None:
            request_id = self._new_request(product_id, command)
        else:
            self.sent[request_id] = Sent(product_id, command, self.now)
        before = self._model_state(product_id)
        expected_error: DomainError | None = None
        expected: list[Event] = []
        try:
            expected = decide(before, command, self.now)
        except DomainError as error:
            expected_error = error
        # Coverage, shown by --hypothesis-show-statistics: which commands apply, which are refused.
        event(f"{type(command).__name__}: {type(expected_error).__name__ if expected_error else 'applied'}")
        if expected_error is not None:
            with pytest.raises(type(expected_error)) as raised:
                self.nodes[writer].execute(product_id, command, request_id, self.now)
            assert type(raised.value) is type(expected_error), (raised.value, expected_error)
            return request_id
        outcome = self.nodes[writer].execute(product_id, command, request_id, self.now)
        assert not outcome.replayed
        assert list(outcome.events) == expected
        assert outcome.state == (evolve_all(before, expected) if expected else before)
        self._acknowledge(request_id, outcome)
        self._catch_up(self.nodes[writer])
        return request_id

    def _acknowledge(self, request_id: str, outcome: Outcome) -> None:
        self.acked[request_id] = outcome
        sent = self.sent[request_id]
        if isinstance(sent.command, cmd.LaunchProduct) and outcome.events:
            self.launched.add(sent.product_id)

    def _catch_up(self, node: Node) -> None:
        """Verify the decisions stored since the model's version and apply them to it."""
        for product_id in node.product_ids():
            model = self.models.setdefault(product_id, Model())
            decision: list[StoredProductEvent] = []
            for record in node.stored_events(product_id, gt=model.version):
                decision.append(record)
                if record.decision_end:
                    self._verify_decision(product_id, model, decision)
                    decision = []
            assert not decision, f"{product_id}: the last decision has no decision_end mark"

    def _verify_decision(self, product_id: str, model: Model, records: list[StoredProductEvent]) -> None:
        request_id = records[0].request_id
        assert all(r.request_id == request_id for r in records), "one decision, several request ids"
        assert request_id in self.sent, f"events of a request never sent: {request_id}"
        assert request_id not in self.applied, f"request {request_id} was applied twice"
        sent = self.sent[request_id]
        assert sent.product_id == product_id
        events = [decode_event(r.type, r.schema, r.payload) for r in records]
        assert events == decide(model.state, sent.command, sent.now), (
            f"the stored decision of {request_id} is not what the domain decides on the state before it"
        )
        for index, stored in enumerate(events):
            broken = model.replay.step(stored, index == len(events) - 1)
            assert broken == [], f"the decision of {request_id} breaks {broken} at {type(stored).__name__}"
        model.version = records[-1].originator_version
        self.applied.add(request_id)

    # Commands ----------------------------------------------------------------------------

    @rule(target=requests, writer=writers, product_id=products, leverage=st.sampled_from((-1, -2, -3)))
    def launch(self, writer: int, product_id: str, leverage: int) -> object:
        launch = cmd.LaunchProduct(product_id, DEFAULT_COMPONENTS, default_params(leverage * WAD))
        return self._execute(writer, product_id, launch)

    @initialize(target=requests, leverage=st.sampled_from((-1, -2, -3)))
    def launch_a_priced_product(self, leverage: int) -> object:
        launch = cmd.LaunchProduct("A", DEFAULT_COMPONENTS, default_params(leverage * WAD))
        sent = [self._execute(0, "A", launch)]
        for symbol, price in self.market.items():
            sent.append(self._execute(0, "A", cmd.ReportPrice(symbol, price, self.now, "r1")))
        return multiple(*sent)

    @rule(
        target=requests,
        writer=writers,
        symbols=st.sampled_from((SYMBOLS, SYMBOLS[:1], SYMBOLS[1:])),
        reporter=st.sampled_from(REPORTERS),
        move_bps=price_moves_bps,
        product_id=st.sampled_from((None, *PRODUCTS)),
    )
    def report_prices(
        self, writer: int, symbols: tuple[str, ...], reporter: str, move_bps: int, product_id: str | None
    ) -> object:
        """A reporter's prices for ``symbols``, to one product or (None) fanned out to all."""
        targets = PRODUCTS if product_id is None else (product_id,)
        sent = []
        for symbol in symbols:
            self.market[symbol] = max(1, self.market[symbol] * (10_000 + move_bps) // 10_000)
            report = cmd.ReportPrice(symbol, self.market[symbol], self.now, reporter)
            sent += [self._execute(writer, target, report) for target in targets]
        return multiple(*sent)

    @rule(target=requests, writer=writers, product_id=products, holder=holders, amount=collateral)
    def mint(self, writer: int, product_id: str, holder: str, amount: int) -> object:
        return self._execute(writer, product_id, cmd.Mint(holder, amount, 0))

    @rule(target=requests, writer=writers, product_id=products, pick=holder_picks, fraction_bps=fractions_bps)
    def redeem(self, writer: int, product_id: str, pick: int, fraction_bps: int) -> object:
        holder = self._holder(product_id, pick)
        tokens = self._tokens(product_id, holder, fraction_bps)
        return self._execute(writer, product_id, cmd.Redeem(holder, tokens, 0))

    @rule(
        target=requests,
        writer=writers,
        product_id=products,
        pick=holder_picks,
        destination=holders,
        fraction_bps=fractions_bps,
    )
    def transfer(
        self, writer: int, product_id: str, pick: int, destination: str, fraction_bps: int
    ) -> object:
        source = self._holder(product_id, pick)
        tokens = self._tokens(product_id, source, fraction_bps)
        return self._execute(writer, product_id, cmd.Transfer(source, destination, tokens))

    @rule(
        target=requests,
        writer=writers,
        product_id=products,
        seconds=st.sampled_from((0, 1, 60, 900, 3_600, 86_400)),
    )
    def tick_after(self, writer: int, product_id: str, seconds: int) -> object:
        self.now += seconds
        return self._execute(writer, product_id, cmd.Tick())

    @rule(target=requests, writer=writers, product_id=products, pause=st.booleans())
    def pause_or_resume(self, writer: int, product_id: str, pause: bool) -> object:
        command = cmd.Pause() if pause else cmd.Resume()
        return self._execute(writer, product_id, command)

    @rule(
        target=requests,
        writer=writers,
        product_id=products,
        rate_wad=st.integers(-WAD, WAD).map(lambda r: r // 100 * 100),
    )
    def report_funding(self, writer: int, product_id: str, rate_wad: int) -> object:
        return self._execute(writer, product_id, cmd.ReportFundingRate(rate_wad))

    @rule(target=requests, writer=writers, product_id=products, accept=st.booleans())
    def resolve_halt(self, writer: int, product_id: str, accept: bool) -> object:
        return self._execute(writer, product_id, cmd.ResolveHalt(accept))

    def _holder(self, product_id: str, pick: int) -> str:
        state = self._model_state(product_id)
        holding = [h for h in HOLDERS if state and state.balance_of(h) > 0] or list(HOLDERS)
        return holding[pick % len(holding)]

    def _tokens(self, product_id: str, holder: str, fraction_bps: int) -> int:
        state = self._model_state(product_id)
        balance = state.balance_of(holder) if state else 0
        return balance * fraction_bps // 10_000

    def _event_counts(self) -> dict[str, int]:
        node = self.nodes[0]
        return {p: sum(1 for _ in node.stored_events(p)) for p in node.product_ids()}

    # Restarts, retries, races ------------------------------------------------------------

    @rule(which=st.sampled_from((0, 1, None)))
    def restart(self, which: int | None) -> None:
        """Drop one node (or both) and open it again from the store: nothing cached."""
        for index in (0, 1) if which is None else (which,):
            self.nodes[index].close()
            self.nodes[index] = self.open_node(self.url)

    @rule(writer=writers, request_id=requests, seconds=st.sampled_from((0, 60)))
    def retry(self, writer: int, request_id: str, seconds: int) -> None:
        """A retry, even later and through the other node, returns the first result and
        writes nothing. A refused request's id stays free: sent again, it is decided anew."""
        self.now += seconds
        sent = self.sent[request_id]
        if request_id not in self.acked:
            self._execute(writer, sent.product_id, sent.command, request_id)
            return
        size = store_size(self.nodes[0])
        counts = self._event_counts()
        outcome = self.nodes[writer].execute(sent.product_id, sent.command, request_id, self.now)
        first = self.acked[request_id]
        assert outcome.replayed
        assert (outcome.events, outcome.state) == (first.events, first.state), "not the first result"
        assert store_size(self.nodes[1 - writer]) == size
        assert self._event_counts() == counts

    @rule(writer=writers, request_id=requests)
    def reuse_for_another_command(self, writer: int, request_id: str) -> None:
        size = store_size(self.nodes[0])
        other_product = "not-" + self.sent[request_id].product_id
        # A handled id is taken; a refused one is free (and the product does not exist).
        refusal = RequestIdReused if request_id in self.acked else ProductNotFound
        with pytest.raises(refusal):
            self.nodes[writer].execute(other_product, cmd.Tick(), request_id, self.now)
        assert store_size(self.nodes[0]) == size

    @rule(product_id=products, data=st.data())
    def race(self, product_id: str, data: st.DataObject) -> None:
        """Both nodes write the product at once from two threads, and both send one same
        request: every command lands once, on the state its predecessor left."""
        race_commands = st.one_of(
            st.builds(cmd.Mint, holders, st.integers(1, 5_000).map(lambda n: n * USDC), st.just(0)),
            st.builds(
                cmd.Transfer,
                holders,
                holders,
                st.sampled_from((1, 10**15, 10**18)),
            ),
            st.just(cmd.Tick()),
            st.builds(
                cmd.ReportPrice,
                st.sampled_from(SYMBOLS),
                st.sampled_from([self.market[s] for s in SYMBOLS]),
                st.just(self.now),
                st.sampled_from(REPORTERS),
            ),
        )
        plans = [data.draw(st.lists(race_commands, min_size=1, max_size=3)) for _ in self.nodes]
        shared = data.draw(race_commands)
        shared_id = self._new_request(product_id, shared)
        plans_with_ids = [[(self._new_request(product_id, c), c) for c in plan] for plan in plans]
        for plan in plans_with_ids:
            plan.insert(len(plan) // 2, (shared_id, shared))
        barrier = threading.Barrier(len(self.nodes))
        outcomes: list[dict[str, Outcome]] = [{}, {}]
        failures: list[BaseException] = []

        def write(index: int) -> None:
            try:
                barrier.wait()
                for request_id, command in plans_with_ids[index]:
                    try:
                        outcomes[index][request_id] = self.nodes[index].execute(
                            product_id, command, request_id, self.now
                        )
                    except ConcurrencyConflict as error:
                        # Two writers and a handful of commands must never exhaust the retries.
                        failures.append(error)
                    except REJECTIONS:
                        pass  # judged after the race: a rejected request must have no events
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(len(self.nodes))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == [], failures
        for found in outcomes:
            for request_id, outcome in found.items():
                if request_id != shared_id:
                    assert not outcome.replayed
                    self._acknowledge(request_id, outcome)
        shared_outcomes = [found[shared_id] for found in outcomes if shared_id in found]
        if shared_outcomes:
            assert [o.replayed for o in shared_outcomes].count(False) == 1, "shared request applied twice"
            assert len({o.events for o in shared_outcomes}) == 1
            self._acknowledge(shared_id, shared_outcomes[0])

    # After every step --------------------------------------------------------------------

    @invariant()
    def the_store_agrees_with_the_model(self) -> None:
        checker = self.checker
        self._catch_up(checker)
        assert set(checker.product_ids()) == self.launched
        for product_id, model in self.models.items():
            assert model.state is not None
            assert check_decision_end(model.state) == [], check_decision_end(model.state)
            checker.forget(product_id)
            cold = checker.load(product_id)
            assert cold is not None
            assert (cold.state, cold.version) == (model.state, model.version), "replayed != loaded"
            for node in self.nodes:
                assert node.load(product_id) == cold, "a live node's state differs from a cold load"
        assert self.applied == {r for r, outcome in self.acked.items() if outcome.events}, (
            "requests with events must be exactly the acknowledged requests that caused events"
        )
        report = audit(checker)
        assert report.ok, report.findings


@pytest.mark.parametrize("writer", ["one-by-one", "group-commit"])
@pytest.mark.parametrize("kind", STORE_KINDS)
def test_the_node_keeps_one_true_log_through_restarts_retries_and_races(kind: str, writer: str) -> None:
    require_store(kind)
    factory = open_writer_node if writer == "group-commit" else open_node
    machine = type(
        f"NodeMachineOn{kind.capitalize()}",
        (NodeMachine,),
        {"store_kind": kind, "open_node": staticmethod(factory)},
    )
    run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)
