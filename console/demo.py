"""`safeguard demo`: the console on SQLite plus simulated pupils' devices of a fictional school."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from console.people import service as people
from console.people.models import Role
from console.runtime import Console
from console.schools import service as schools
from console.schools.models import Phase, School
from console.settings import Settings
from console.store import transaction
from console.store.migrate import upgrade

log = logging.getLogger(__name__)

SCHOOL = "Riverside Academy"
PUPILS = ["amelia.jones", "oliver.smith", "isla.khan", "noah.williams", "ava.patel", "leo.brown", "mia.davies", "jack.taylor"]


DEMO_PASSWORD = "safeguard-demo"
DEMO_USERS = [("officer", Role.officer), ("dsl", Role.dsl), ("technician", Role.technician),
              ("auditor", Role.auditor), ("admin", Role.admin)]


def _demo_people(session: Session, school: School) -> None:
    """The demo's staff (one per role, all with DEMO_PASSWORD) and the simulated pupils in the school's MIS."""
    for username, role in DEMO_USERS:
        if people.get_by_username(session=session, username=username) is None:
            people.create(session=session, username=username, password=DEMO_PASSWORD, role=role,
                          school_id=school.id if role in (Role.dsl, Role.technician) else None)
    rows = [f"A{900000000000 + index},{name.split('.')[1].title()},{name.split('.')[0].title()},Year {7 + index % 5},"
            f"{7 + index % 5}{'AB'[index % 2]},{name}" for index, name in enumerate(PUPILS)]
    schools.import_pupils(session=session, school=school, text="UPN,Surname,Forename,Year,Reg,Username\n" + "\n".join(rows))


def _agent_command(index: int, rate: float) -> list[str]:
    return [
        sys.executable, "-m", "agent", "run", "--simulate",
        "--rate", str(rate), "--seed", str(index), "--offset", str(index * 3),
        "--user", PUPILS[index % len(PUPILS)],
    ]


async def run_demo(*, data_dir: Path, agents: int, rate: float, duration: float, web_port: int) -> None:
    settings = Settings(data_dir=data_dir, web_port=web_port)
    console = Console(settings)
    upgrade(console.engine)
    with transaction(console.sessions) as session:
        school = schools.get_by_name(session=session, name=SCHOOL) or schools.create(
            session=session, name=SCHOOL, phase=Phase.secondary
        )
        token = schools.create_enrolment_token(session=session, school=school, days=1, max_uses=agents, label="demo")
        _demo_people(session, school)
    serving = asyncio.create_task(console.run())
    await asyncio.sleep(1.0)
    processes = []
    for index in range(agents):
        env = {
            **os.environ,
            "SAFEGUARD_AGENT_STATE_DIR": str(data_dir / "agents" / f"device-{index + 1}"),
            "SAFEGUARD_AGENT_CA_FILE": str(data_dir / "pki" / "ca.pem"),
            "SAFEGUARD_AGENT_ENROLMENT_TOKEN": token,
            "SAFEGUARD_AGENT_STREAM_PORT": str(settings.grpc_port),
            "SAFEGUARD_AGENT_ENROL_PORT": str(settings.enrol_port),
        }
        processes.append(subprocess.Popen(_agent_command(index, rate), env=env))
    url = f"http://{settings.web_host}:{settings.web_port}/"
    logins = "\n".join(f"  {username:<12} {role:<11} password: {DEMO_PASSWORD}" for username, role in DEMO_USERS)
    print(f"\nSafeguard demo: {agents} simulated devices at {SCHOOL} are streaming.\nOpen {url} and sign in as:\n"
          f"{logins}\n", flush=True)
    try:
        if duration:
            await asyncio.wait_for(asyncio.shield(serving), timeout=duration)
        else:
            await serving
    except TimeoutError:
        os.kill(os.getpid(), signal.SIGTERM)
        await serving
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
