"""Real faults on the real stack: the switchboard is SIGKILLed while Rasa is thinking; what the resident
wrote is answered once after the restart, and Rasa's tracker holds it once."""
from __future__ import annotations

import signal
import time

import httpx
import pytest

from conftest import eventually, start_stack




@pytest.mark.e2e
def test_a_message_stored_before_the_switchboard_is_killed_is_answered_once_after_the_restart(tmp_path):
    stack = start_stack(tmp_path, RASA_TIMEOUT_SECONDS="3", CLAIM_CHECK_SECONDS="0.5")
    base = f"http://127.0.0.1:{stack.handoff_port}"
    try:
        opened = httpx.post(f"{base}/api/conversations", json={}, timeout=30).json()
        conv_id, resident = opened["id"], {"X-Resident-Secret": opened["secret"]}
        question = "hej, när hämtas soporna på min gata?"
        stack.signal("Rasa server", signal.SIGSTOP)  # Rasa hangs: the answer is on its way when the switchboard dies
        try:
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(f"{base}/api/conversations/{conv_id}/messages", headers=resident,
                           json={"text": question, "client_id": "sopor-fraga-1"}, timeout=1.5)
            stack.signal("handoff service", signal.SIGKILL)
        finally:
            stack.signal("Rasa server", signal.SIGCONT)
        stack.restart("handoff service")

        def messages() -> list[dict]:
            return httpx.get(f"{base}/api/conversations/{conv_id}/messages", headers=resident,
                             timeout=30).json()["messages"]

        said = eventually(lambda: (m := messages()) and m[-1]["author"] == "bot" and m, "the answer after the restart",
                          timeout=60, every=0.2)
        time.sleep(2)  # a few more rounds of the background check: nothing is answered twice
        after = messages()
        resident_said = [m for m in after if m["author"] == "resident"]
        assert [m["text"] for m in resident_said] == [question]  # stored once
        answers = [m for m in after if m["seq"] > resident_said[0]["seq"]]
        assert answers == said[len(said) - len(answers):] and all(m["author"] == "bot" for m in answers)
        assert any("sop" in m["text"].lower() or "töm" in m["text"].lower() for m in answers), answers
        # the widget's retry of the lost send gets the first result, and stores nothing new
        retry = httpx.post(f"{base}/api/conversations/{conv_id}/messages", headers=resident,
                           json={"text": question, "client_id": "sopor-fraga-1"}, timeout=30).json()
        assert [m["seq"] for m in retry["messages"]] == [resident_said[0]["seq"], *(m["seq"] for m in answers)]
        tracker = httpx.get(f"http://127.0.0.1:{stack.rasa_port}/conversations/{conv_id}/tracker",
                            params={"token": stack.rasa_token}, timeout=30).json()
        assert sum(e["event"] == "user" and e.get("text") == question for e in tracker["events"]) == 1
    finally:
        stack.stop()
