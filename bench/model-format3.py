"""Rewrites a format-2 model directory as format 3 without the neighbour component (weights untouched,
checksums.json recomputed), so bench/neighbour-blend-probe.ts can read a model trained before format 3.
   python3 bench/model-format3.py OLD_DIR NEW_DIR"""
import json, hashlib, os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
shutil.rmtree(dst, ignore_errors=True); shutil.copytree(src, dst)
c = json.load(open(f'{dst}/config.json')); c['version'] = 3
c['train'].update({'neighbours': 50, 'neighbourWeight': 0, 'voteTemperature': 0.1})
json.dump(c, open(f'{dst}/config.json', 'w'), indent=2)
files = {}
for n in sorted(os.listdir(dst)):
    if n == 'checksums.json': continue
    files[n] = hashlib.sha256(open(f'{dst}/{n}', 'rb').read()).hexdigest()
json.dump({'algorithm': 'sha256', 'files': files}, open(f'{dst}/checksums.json', 'w'), indent=2)
