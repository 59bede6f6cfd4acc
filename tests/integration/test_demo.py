"""`make demo` tells the whole story, the same way on every machine: the
sample definitions loaded, local cohorts entering live (in the linked app and
through a socket subscriber), explain, local + remote cohorts, activations and
ad-request key-values that are not stale, events sent, and what the emulator
received. Runs scripts/demo.sh on this build (host builds only: the demo runs
its binaries directly)."""

import os
import re
import subprocess
import unittest

from harness import COHORTD, EMULATED, ROOT, scaled


@unittest.skipIf(EMULATED, "the demo runs the host build's binaries")
class Demo(unittest.TestCase):
    def test_the_demo_shows_the_product(self):
        build = os.path.dirname(os.path.dirname(os.path.dirname(COHORTD)))  # .../agent/daemon/cohortd
        run = subprocess.run([os.path.join(ROOT, "scripts", "demo.sh"), build], capture_output=True, text=True,
                             timeout=scaled(120))
        out = run.stdout
        self.assertEqual(run.returncode, 0, run.stderr + out)
        # The sample local cohorts, loaded by both agents.
        for name in ("Football fans", "Binge watchers", "Podcast completers", "Engaged sport viewers",
                     "Football lookalike"):
            self.assertIn(name, out)
        self.assertIn("5 local cohort definitions", out)
        self.assertRegex(out, r"definitions:\s+5")
        # Cohorts entering live: in the linked app, and to a socket subscriber.
        self.assertIn('-> entered ["1001","1004"]', out)
        self.assertIn('-> entered ["1002"]', out)
        # The modeled cohort: entered at the third football match, its
        # probability and each feature's contribution shown.
        self.assertRegex(out, r'match 3 of 3, football.*\n\s+-> entered \["1005"\]')
        self.assertRegex(out, r"explain 1005\s+in: probability 0\.\d+ \(score 0\.\d+\), needed ≥0\.5")
        self.assertRegex(out, r"football_views\s+count 3 in 30 days → log1p 1\.38629 × 1\.2 = 1\.66355")
        self.assertRegex(out, r"sport_seconds\s+engaged_time [\d.]+ in 7 days → cap")
        self.assertRegex(out, r"completion\s+avg of percentage_watched 0\.95 in 7 days → 0\.95 × 1 = 0\.95")
        self.assertRegex(out, r'"dfp":\["1001","1004","1005"')
        self.assertRegex(out, r"subscriber: \S+\s+entered: 1003")
        self.assertRegex(out, r"explain 1002\s+in: count 3 of needed")
        self.assertIn("in the cohort: yes", out)
        # Local and remote cohorts, activations, key-values: fresh, never stale.
        self.assertRegex(out, r"1003\s+local\s+Podcast completers")
        self.assertRegex(out, r"\d+\s+remote")
        self.assertIn("stale: no", out)
        self.assertNotIn("(stale)", out)
        self.assertRegex(out, r"adswizz_keyvalue\s+permutive=1003")
        self.assertIn("prmtvctx=", out)
        # Sent, on any machine: the clock is trusted, nothing waits.
        self.assertRegex(out, r"clock.trusted:\s+yes")
        self.assertRegex(out, r"last_sync.ok:\s+yes")
        self.assertRegex(out, r"last_sync.sent:\s+[1-9]")
        self.assertRegex(out, r"queue_depth:\s+0")
        received = re.findall(r"^  /(ccs|ctx)/\S+\s+(\d+)", out, re.M)
        self.assertTrue(any(kind == "ccs" for kind, _ in received), out)
        self.assertTrue(any(kind == "ctx" for kind, _ in received), out)
        self.assertEqual({status for _, status in received}, {"200"}, out)
        self.assertNotIn("KEY IN URL", out)
        self.assertNotIn("SegmentEntry", out.split("what the emulator received")[1])


if __name__ == "__main__":
    unittest.main()
