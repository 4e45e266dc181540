"""A record names the CPU it computed on beyond its instruction set: two Xeons that both report
AVX512 gave different first epochs for the same run, settings and seed."""
import sparsekit as sk
from sparsekit.core.machine import cpu_identity

SMALL = dict(dataset="digits", width=0.25, epochs=1, max_batches=1, progress=False, batch_size=64)


def test_the_flags_digest_tells_two_cpus_of_one_name_apart_and_ignores_flag_order(tmp_path):
    def info(flags):
        path = tmp_path / f"cpuinfo-{len(flags)}"
        path.write_text(f"processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: {flags}\n"
                        f"processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: {flags}\n")
        return cpu_identity(path)

    plain, with_amx = info("fpu sse2 avx2 avx512f"), info("fpu sse2 avx2 avx512f amx_tile amx_bf16")
    assert plain["model"] == with_amx["model"] == "Intel(R) Xeon(R) Processor"
    assert plain["flags_digest"] != with_amx["flags_digest"]
    assert info("avx512f avx2 sse2 fpu")["flags_digest"] == plain["flags_digest"]
    assert cpu_identity(tmp_path / "no-such-file")["flags_digest"] == "unknown"


def test_a_record_names_its_cpu():
    record = sk.train(**SMALL)
    assert record["environment"]["cpu"] == cpu_identity()
