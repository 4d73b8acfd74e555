"""Extracts the lists the benchmarks use from a pymispwarninglists wheel (a zip file)."""

import json
import sys
import zipfile

PREFIX = "pymispwarninglists/data/misp-warninglists/lists/"


def read_list(wheel, name):
    with wheel.open(f"{PREFIX}{name}/list.json") as handle:
        return json.load(handle)


def write(path, values):
    with open(path, "w", encoding="utf-8") as out:
        for value in values:
            out.write(value + "\n")
    print(f"{path}: {len(values)} lines")


def main():
    wheel_path, out_dir = sys.argv[1], sys.argv[2]
    with zipfile.ZipFile(wheel_path) as wheel:
        domains = [d.strip().lower() for d in read_list(wheel, "tranco")["list"] if d.strip()]
        origins = []
        for entry in read_list(wheel, "google-chrome-crux-1million")["list"]:
            host = entry.strip().lower().split("://")[-1].split("/")[0]
            if host:
                origins.append(host)
        hashes = [
            h.strip().lower()
            for h in read_list(wheel, "nioc-filehash")["list"]
            if len(h.strip()) in (32, 40, 64)
        ]
        cidrs = set()
        for name in wheel.namelist():
            if not (name.startswith(PREFIX) and name.endswith("/list.json")):
                continue
            with wheel.open(name) as handle:
                data = json.load(handle)
            if data.get("type") == "cidr":
                cidrs.update(c.strip() for c in data["list"] if c.strip())
    write(f"{out_dir}/domains.txt", domains)
    write(f"{out_dir}/origins.txt", origins)
    write(f"{out_dir}/hashes.txt", hashes)
    write(f"{out_dir}/cidrs.txt", sorted(cidrs))


if __name__ == "__main__":
    main()
