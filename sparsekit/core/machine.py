"""Which CPU a run computed on, as precisely as a record needs it. Two machines that report the
same instruction set (torch's `cpu_capability`) can still pick different kernels (other
extensions, other cache sizes) and round differently: a run that reruns bit for bit on one
Xeon may not on another. The processor's model and a digest of its feature flags tell them
apart; where the system does not say (no /proc/cpuinfo), the platform's word stands in."""
import hashlib
import platform
from pathlib import Path
from typing import Dict

CPUINFO = Path("/proc/cpuinfo")


def cpu_identity(cpuinfo: Path = CPUINFO) -> Dict[str, str]:
    """{"model": the processor's name, "flags_digest": 12 hex digits of its sorted feature flags}."""
    fields = {}
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "flags", "Features") and key not in fields:  # Features: Arm
                fields[key] = value.strip()
    except OSError:
        pass
    flags = " ".join(sorted((fields.get("flags") or fields.get("Features") or "").split()))
    return {"model": fields.get("model name") or platform.processor() or platform.machine() or "unknown",
            "flags_digest": hashlib.sha256(flags.encode()).hexdigest()[:12] if flags else "unknown"}
