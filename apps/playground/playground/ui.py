"""The two Streamlit pages. Thin on purpose: every decision is in the plain modules next to this one.

Every failure ends as one sentence on the page (``st.error``), never as a stack trace: the plain modules
raise :class:`~playground.errors.PlaygroundError` with that sentence, and :func:`guarded` turns anything
unexpected into a short message while the traceback goes to the server log. ``.streamlit/config.toml``
also sets ``client.showErrorDetails = "none"`` as a second line of defence.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

import boto3
import pandas as pd
import streamlit as st
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from playground.catalog import AliasTemplate, CatalogListing, CatalogReader, EvaluationSummary
from playground.config import AppConfig
from playground.errors import PlaygroundError, describe_aws_error
from playground.gateway import Answer, GatewayClient, check_variables, citation_lines
from playground.scorecards import cost_rows, load_items, quality_rows

logger = logging.getLogger("playground")

HISTORY_KEY = "history"
LISTING_TTL_SECONDS = 30


def guarded(page: Callable[[], None]) -> Callable[[], None]:
    """Run ``page``; an unexpected exception becomes one sentence on the page and a traceback in the log."""

    @functools.wraps(page)
    def run() -> None:
        try:
            page()
        except PlaygroundError as error:
            st.error(str(error))
        except Exception as error:  # the last line of defence: never show a stack trace
            logger.exception("page %s failed", page.__name__)
            st.error(f"Something went wrong on this page ({type(error).__name__}); the details are in the app's log.")

    return run


# ------------------------------------------------------------------------------------------- plumbing


@st.cache_resource
def _clients(region: str | None) -> dict[str, Any]:
    # One set of clients per process: creating a boto3 client costs ~0.1 s. Endpoints come from the
    # environment (AWS_ENDPOINT_URL_*), which is how `make app` points them at the local emulator.
    session = boto3.session.Session(region_name=region)
    reads = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)
    # Two attempts at most: a retried invocation runs (and bills) the model call again.
    invoke = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=150)
    return {
        "dynamodb": session.client("dynamodb", config=reads),
        "s3": session.client("s3", config=reads),
        "lambda": session.client("lambda", config=invoke),
    }


def _config() -> AppConfig:
    return AppConfig.from_env(os.environ)


def _catalog(config: AppConfig) -> CatalogReader:
    return CatalogReader(_clients(config.region)["dynamodb"], config.table_name)


@st.cache_data(ttl=LISTING_TTL_SECONDS, show_spinner=False)
def _listing(table_name: str, region: str | None) -> CatalogListing:
    try:
        return CatalogReader(_clients(region)["dynamodb"], table_name).listing()
    except (BotoCoreError, ClientError) as error:
        raise PlaygroundError(describe_aws_error(error, f"read the prompt catalog (table {table_name})")) from None


def _read(action: Callable[[], Any], what: str) -> Any:
    try:
        return action()
    except (BotoCoreError, ClientError) as error:
        raise PlaygroundError(describe_aws_error(error, what)) from None


# --------------------------------------------------------------------------------------- playground


@guarded
def playground_page() -> None:
    """Pick a prompt by alias, fill its variables, call the gateway, show the answer and what it cost."""
    st.title("Prompt playground")
    st.caption("Calls the LLM gateway with a prompt from the catalog: the answer, tokens, cost, latency, guardrail.")
    config = _config()
    listing = _listing(config.table_name, config.region)
    prompts = listing.prompts_with_aliases()
    if not prompts:
        st.info(
            "The catalog has no prompt with an alias yet: create a version (POST /prompts/{name}/versions) "
            "and point an alias at it (PUT /prompts/{name}/aliases/dev) through the catalog API."
        )
        return
    left, right = st.columns(2)
    prompt = left.selectbox("Prompt", prompts, key="prompt")
    alias = right.selectbox("Alias", listing.aliases_of(prompt), key="alias")
    record: AliasTemplate | None = _read(
        lambda: _catalog(config).alias(prompt, alias), f"read alias {alias!r} of prompt {prompt!r}"
    )
    if record is None:
        st.error(f"Prompt {prompt!r} has no alias {alias!r} any more; reload the page to refresh the list.")
        return
    st.caption(f"{prompt} · alias {alias} → version {record.version} · model {record.model_id}")
    if record.knowledge_base:
        st.caption(
            f"Retrieves from knowledge base {record.knowledge_base}: the gateway fills '{record.context_variable}' "
            "with the passages it finds, and the answer cites them."
        )
    with st.expander("Template"):
        st.code(record.template, language=None)

    with st.form("request", border=True):
        values = {
            name: st.text_area(name, key=f"var:{prompt}:{alias}:{name}", height=100) for name in record.form_variables
        }
        if not record.form_variables:
            st.write("This prompt has no variables: Send calls it as it is.")
        sent = st.form_submit_button("Send", type="primary")
    if sent:
        _send(config, record, values)

    history: list[tuple[dict[str, str], Answer]] = st.session_state.get(HISTORY_KEY, [])
    for variables, answer in reversed(history):
        _show_exchange(variables, answer)
    if history and st.button("Clear the conversation"):
        st.session_state[HISTORY_KEY] = []
        st.rerun()


def _send(config: AppConfig, record: AliasTemplate, values: dict[str, str]) -> None:
    try:
        variables = check_variables(record.form_variables, values)
        gateway = GatewayClient(_clients(config.region)["lambda"], config.gateway_function_name)
        with st.spinner("Calling the gateway ..."):
            answer = gateway.ask(prompt=record.prompt, alias=record.alias, variables=variables, team=config.team)
    except PlaygroundError as error:
        st.error(str(error))
        return
    st.session_state.setdefault(HISTORY_KEY, []).append((variables, answer))


def _show_exchange(variables: dict[str, str], answer: Answer) -> None:
    with st.chat_message("user"):
        st.caption(f"{answer.prompt} @ {answer.alias} (v{answer.version})")
        for name, value in variables.items():
            st.markdown(f"**{name}**")
            st.text(value)
    with st.chat_message("assistant"):
        if answer.guardrail_intervened:
            st.warning("The guardrail intervened: the request or the answer was blocked, and this is its message.")
        if answer.retrieval_status == "empty":
            st.warning(
                "The knowledge base returned no passages for this question, so the model was not called: "
                "there is nothing to ground an answer in."
            )
        else:
            st.text(answer.text)
        if answer.citations:
            st.markdown("**Sources**")
            for line in citation_lines(answer):
                st.markdown(line)
        tokens_in, tokens_out, cost, latency = st.columns(4)
        tokens_in.metric("Input tokens", f"{answer.input_tokens:,}")
        tokens_out.metric("Output tokens", f"{answer.output_tokens:,}")
        cost.metric("Cost (USD)", f"${answer.cost_usd:.6f}")
        latency.metric("Latency", f"{answer.latency_ms:,.0f} ms")
        st.caption(
            f"model {answer.model_id} · stop reason {answer.stop_reason or 'n/a'} · "
            f"guardrail intervened: {'yes' if answer.guardrail_intervened else 'no'} · "
            f"round trip {answer.round_trip_ms:,.0f} ms"
        )


# --------------------------------------------------------------------------------------- scorecards


@st.cache_data(ttl=300, show_spinner=False)
def _items(uri: str, region: str | None) -> list[dict[str, Any]]:
    return load_items(_clients(region)["s3"], uri)


@guarded
def scorecards_page() -> None:
    """The latest evaluation of a prompt: verdict, chart of the quality metrics per model, cost and items."""
    st.title("Evaluation scorecards")
    st.caption("The newest evaluation runs of a prompt over its golden set, per model.")
    config = _config()
    listing = _listing(config.table_name, config.region)
    if not listing.prompts:
        st.info("The catalog has no prompt yet, so there is nothing evaluated to show.")
        return
    # Start on the prompt chosen in the playground, if any: that is usually the one being looked into.
    chosen = st.session_state.get("prompt")
    start = listing.prompts.index(chosen) if chosen in listing.prompts else 0
    prompt = st.selectbox("Prompt", listing.prompts, index=start, key="scorecard_prompt")
    runs: list[EvaluationSummary] = _read(
        lambda: _catalog(config).evaluations(prompt), f"read the evaluations of prompt {prompt!r}"
    )
    if not runs:
        st.info(f"Prompt {prompt!r} has no evaluation yet: run the evaluation state machine on one of its versions.")
        return
    latest = runs[0]
    st.subheader(f"v{latest.version} on {latest.golden_set} v{latest.golden_version}")
    st.caption(f"run {latest.run_id} · {latest.created_at} · selected model {latest.selected_model}")
    if latest.passed:
        st.success("Quality gate passed: this version may be promoted to prod.")
    else:
        st.warning("Quality gate failed: " + "; ".join(latest.reasons or ("no reason recorded",)))
    if latest.explanation:
        st.write(latest.explanation)

    rows = quality_rows(latest)
    if rows:
        st.bar_chart(pd.DataFrame(rows), x="metric", y="value", color="model", stack=False, horizontal=True)
        st.caption("Every metric runs from 0 to 1; higher is better, except the hallucination rate.")
    else:
        st.info("This run has no quality metrics to chart.")
    st.dataframe(pd.DataFrame(cost_rows(latest)), hide_index=True)

    with st.expander(f"Per-item results (scorecard.json, {latest.scorecard_uri})"):
        try:
            items = _items(latest.scorecard_uri, config.region)
        except PlaygroundError as error:
            st.error(str(error))
        else:
            st.dataframe(pd.DataFrame(items), hide_index=True)

    if len(runs) > 1:
        st.subheader("Earlier runs")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "version": run.version,
                        "golden set": f"{run.golden_set} v{run.golden_version}",
                        "passed": run.passed,
                        "selected model": run.selected_model,
                        "created": run.created_at,
                        "run": run.run_id,
                    }
                    for run in runs[1:]
                ]
            ),
            hide_index=True,
        )
