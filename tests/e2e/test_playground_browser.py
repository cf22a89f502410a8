"""The playground in a real browser, the way `make app` runs it: headless Chromium (Debian's package) driven
by Playwright against Streamlit on 127.0.0.1, the local environment deployed into the emulator with the
real CDK CLI, the gateway's handler run through the Lambda bridge, the local stand-in model answering.

One deployment for the whole module. Every server listens on loopback only and is stopped by the fixture.
Screenshots go to the test's temporary directory (or ``PLAYGROUND_SCREENSHOTS``, to look at them).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from emulator.cdk_cli import missing_cli_reason
from scripts.app import DENIED_WORD, THROTTLE_WORD, RunningPlayground, local_playground
from scripts.local_env import PROJECT_ROOT, preflight

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(missing_cli_reason() is not None, reason=str(missing_cli_reason())),
]

# Debian's package; PLAYGROUND_CHROMIUM names another build (the test does not download one).
CHROMIUM = Path(os.environ.get("PLAYGROUND_CHROMIUM") or "/usr/bin/chromium")
MISSING_CHROMIUM = (
    f"Chromium is not installed ({CHROMIUM} not found): install it with `apt-get install -y chromium` "
    "(.ci/run does this in CI); Playwright's own browser download does not work offline."
)
# What works here: no sandbox (root in a container), no GPU, no network features beyond loopback.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 20_000
# The first call loads the gateway's handler in the bridge; assertions wait as long as actions do.
expect.set_options(timeout=TIMEOUT_MS)
TICKET = "The export to CSV fails with a timeout since Monday; 40 agents are blocked."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser | None]:
    """Chromium, or None when it is not installed (each test then fails naming the install command)."""
    if not CHROMIUM.exists():
        yield None
        return
    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh, temporary profile (--user-data-dir).
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def playground(browser: Browser | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlayground | None]:
    if browser is None:
        yield None  # nothing to drive it with: do not deploy; every test fails in need_browser()
        return
    workdir = tmp_path_factory.mktemp("playground")
    port = free_port()
    with (
        open(workdir / "streamlit.log", "wb") as log,
        local_playground(
            preflight(PROJECT_ROOT / "cdk.json"),
            port=port,
            output_dir=workdir / "cdk.out",
            step=lambda _title, action: action(),
            log=log,
        ) as running,
    ):
        emulator_port = running.aws.port
        yield running
    # Nothing may keep listening after the tests: the app and the emulator are gone.
    for stopped in (port, emulator_port):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", stopped)) != 0, f"still listening on {stopped} after the tests"
    log_text = (workdir / "streamlit.log").read_text(errors="replace")
    assert "Traceback" not in log_text, f"the app logged a traceback:\n{log_text[-3000:]}"


@pytest.fixture
def page(browser: Browser | None, playground: RunningPlayground | None) -> Iterator[Page | None]:
    if browser is None:
        yield None
        return
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


def need_browser(page: Page | None, playground: RunningPlayground | None) -> tuple[Page, RunningPlayground]:
    """The page and the app, or the test FAILS (a skip could hide a CI machine without a browser)."""
    if page is None or playground is None:
        pytest.fail(MISSING_CHROMIUM)
    return page, playground


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("PLAYGROUND_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def choose_prompt(page: Page, url: str, prompt: str) -> None:
    page.goto(url)
    page.get_by_label("Prompt", exact=True).click()
    page.get_by_role("option", name=prompt, exact=True).click()
    # Selecting reruns the script, and until the run ends the previous prompt's form is still on the page:
    # wait for the chosen prompt's caption (the run started) and for the run to end before typing.
    expect(page.get_by_text(f"{prompt} · alias dev")).to_be_visible()
    wait_until_idle(page)


def wait_until_idle(page: Page) -> None:
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


def newest_answer(page: Page) -> Locator:
    # Exchanges are shown newest first, each as the request (user) then the answer (assistant).
    return page.locator('[data-testid="stChatMessage"]').nth(1)


def assert_no_stack_trace(page: Page) -> None:
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and 'File "' not in body


def test_send_a_prompt_and_see_the_answer_and_its_metrics(
    page: Page | None, playground: RunningPlayground | None, screenshots: Path
) -> None:
    page, playground = need_browser(page, playground)
    choose_prompt(page, playground.url, "ticket-summary")
    page.get_by_label("ticket", exact=True).fill(TICKET)
    page.get_by_role("button", name="Send").click()

    answer = newest_answer(page)
    expect(answer).to_contain_text("[local stand-in model]")
    expect(answer).to_contain_text("label: technical")
    expect(answer.get_by_test_id("stMetricValue")).to_have_count(4)
    labels = answer.locator('[data-testid="stMetricLabel"]').all_inner_texts()
    values = answer.locator('[data-testid="stMetricValue"]').all_inner_texts()
    metrics = dict(zip((label.strip() for label in labels), (value.strip() for value in values), strict=True))
    assert list(metrics) == ["Input tokens", "Output tokens", "Cost (USD)", "Latency"]
    assert int(metrics["Input tokens"].replace(",", "")) > len(TICKET.split())  # the template's words count too
    assert int(metrics["Output tokens"]) > 0
    assert re.fullmatch(r"\$0\.\d{6}", metrics["Cost (USD)"]) and metrics["Cost (USD)"] != "$0.000000"
    assert re.fullmatch(r"[\d,]+ ms", metrics["Latency"])
    expect(answer).to_contain_text("guardrail intervened: no")
    assert_no_stack_trace(page)
    page.screenshot(path=str(screenshots / "answer.png"), full_page=True)

    # The call went through the deployed gateway: its EMF metrics reached the emulator's CloudWatch.
    cloudwatch = playground.aws.client("cloudwatch")
    names = {
        m["MetricName"]
        for m in cloudwatch.list_metrics(Dimensions=[{"Name": "prompt", "Value": "ticket-summary"}])["Metrics"]
    }
    assert {"InputTokens", "OutputTokens", "CostUSD", "LatencyMs"} <= names


def test_missing_variable_is_named_and_no_stack_trace(
    page: Page | None, playground: RunningPlayground | None, screenshots: Path
) -> None:
    page, playground = need_browser(page, playground)
    choose_prompt(page, playground.url, "reply-draft")
    page.get_by_label("customer", exact=True).fill("Ada")
    page.get_by_role("button", name="Send").click()  # ticket left empty
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Fill in the variable 'ticket' before sending: the prompt needs a value for each.")
    expect(page.locator('[data-testid="stChatMessage"]')).to_have_count(0)
    assert_no_stack_trace(page)
    page.screenshot(path=str(screenshots / "missing-variable.png"), full_page=True)


def test_guardrail_intervention_and_failing_model_call_are_clear(
    page: Page | None, playground: RunningPlayground | None
) -> None:
    page, playground = need_browser(page, playground)
    choose_prompt(page, playground.url, "ticket-summary")
    page.get_by_label("ticket", exact=True).fill(f"Please explain the {DENIED_WORD} workaround.")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("The guardrail intervened")).to_be_visible()
    expect(newest_answer(page)).to_contain_text("guardrail intervened: yes")

    wait_until_idle(page)
    page.get_by_label("ticket", exact=True).fill(f"Please {THROTTLE_WORD} this.")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert").filter(has_text="HTTP 502")).to_have_text(
        # The gateway's stable answer: Bedrock's own message stays in the gateway's log.
        re.compile(
            r"^The model call failed \(HTTP 502\): Bedrock Converse failed: ThrottlingException; "
            r"see the gateway log for request .+\.$"
        )
    )
    assert_no_stack_trace(page)


def test_scorecards_page_shows_the_latest_evaluation_with_a_chart(
    page: Page | None, playground: RunningPlayground | None, screenshots: Path
) -> None:
    page, playground = need_browser(page, playground)
    page.goto(f"{playground.url}/scorecards")
    page.get_by_label("Prompt", exact=True).click()
    page.get_by_role("option", name="ticket-summary", exact=True).click()
    expect(page.get_by_text("v1 on support-tickets v1")).to_be_visible()
    wait_until_idle(page)
    # `make app` evaluates ticket-summary v1 with the stand-in models; the verdict is the gate's either way.
    expect(page.get_by_text(re.compile(r"^Quality gate (passed|failed)"))).to_be_visible()
    chart = page.locator('[data-testid="stVegaLiteChart"]')
    expect(chart).to_be_visible()
    expect(chart.locator("canvas, svg").first).to_be_visible()
    assert_no_stack_trace(page)
    page.screenshot(path=str(screenshots / "scorecards.png"), full_page=True)
