"""Prints the slowest tests of one or more nextest JUnit files and the totals, so that each
run of ci/test.sh shows where its time went (the tiers are split from these numbers).
    python3 ci/slowest.py [-n 20] JUNIT.xml..."""
import argparse
import xml.etree.ElementTree as ElementTree

parser = argparse.ArgumentParser()
parser.add_argument("-n", type=int, default=20)
parser.add_argument("files", nargs="+")
args = parser.parse_args()

cases = []
for path in args.files:
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        cases.append((float(case.get("time", 0)), f"{case.get('classname')} {case.get('name')}", failed))

cases.sort(reverse=True)
print(f"{args.n} slowest tests of {len(cases)}:")
for seconds, name, failed in cases[: args.n]:
    print(f"  {seconds:8.1f} s  {name}{'  FAILED' if failed else ''}")
total = sum(seconds for seconds, _, _ in cases)
failures = sum(failed for _, _, failed in cases)
print(f"all suites: {len(cases) - failures} passed, {failures} failed, {total:.0f} s of test time")
