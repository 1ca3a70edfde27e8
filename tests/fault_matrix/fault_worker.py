"""A delivering worker the fault matrix SIGKILLs: ``deliver_stage`` of the onboarding
day's chunk 0 in its own process, with the settings of its environment
(``MISSIVA_HOME``, ``MISSIVA_LEDGER_URL``...).

Usage: ``python fault_worker.py SMTP_PORT SMS_URL TRY_NUMBER``
"""

import sys
from dataclasses import replace

from fault_runs import RUN, sms_settings, smtp_settings

from missiva.delivery.outbox import deliver_stage
from missiva.journeys import ONBOARDING
from missiva.settings import Settings

if __name__ == "__main__":
    smtp_port, sms_url, try_number = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    run = replace(RUN, task_id="deliver", try_number=try_number)
    smtp, sms = smtp_settings(smtp_port, timeout=120), sms_settings(sms_url)
    deliver_stage(ONBOARDING, run, Settings.from_env(), 0, lambda: smtp, sms=lambda: sms)
