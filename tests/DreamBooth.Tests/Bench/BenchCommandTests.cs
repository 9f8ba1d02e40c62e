using System.Text.Json;
using DreamBooth.Benchmarks;
using DreamBooth.Tests.Infrastructure;
using DreamBooth.Tests.IO;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Bench;

/// <summary><c>dreambooth bench</c> in-process on the tiny-sd1 configs: a JSON report with every case; bad flags are one-line errors that write nothing.</summary>
public class BenchCommandTests
{
    private static string[] Args(string output, params string[] more) =>
        ["bench", "--config", Golden.PathOf("tiny-sd1"), "--resolution", "32", "--iterations", "1", "--warmup", "0", "--rss-drift-steps", "2", "--output", output, .. more];

    [Fact]
    public void Writes_a_parseable_report_with_every_case_and_no_temporary_file()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out", "bench.json");
        var (exit, stderr) = Corpus.Corpus.Cli(Args(output, "--profile"));
        exit.Should().Be(0, stderr);
        Directory.GetFiles(Path.Combine(dir.Path, "out")).Should().Equal([output], "the report is written by rename, leaving no temporary file");
        using var doc = JsonDocument.Parse(File.ReadAllText(output));
        var names = doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("name").GetString()).ToList();
        names.Should().Equal(BenchCases.All);
        doc.RootElement.GetProperty("cases").EnumerateArray().Should().OnlyContain(c => c.GetProperty("status").GetString() != BenchCaseResult.Failed);
        doc.RootElement.GetProperty("targets").GetArrayLength().Should().BeGreaterThan(5);
        doc.RootElement.GetProperty("peak_gflops_bf16").GetDouble().Should().BePositive();
    }

    [Fact]
    public void Bad_flags_fail_in_one_line_and_write_nothing()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "bench.json");
        File.WriteAllText(dir.File("a-file"), "x");
        Corpus.Corpus.CliFails(dir, ["bench", "--config", "foo", "--output", output], "--config foo");
        Corpus.Corpus.CliFails(dir, Args(output, "--iterations", "0"), "--iterations 0");
        Corpus.Corpus.CliFails(dir, Args(output, "--warmup", "-1"), "--warmup -1");
        Corpus.Corpus.CliFails(dir, Args(output, "--rss-drift-steps", "1"), "--rss-drift-steps 1");
        Corpus.Corpus.CliFails(dir, Args(output, "--cases", "matmul-fp32,bogus"), "unknown case 'bogus'");
        Corpus.Corpus.CliFails(dir, Args(output, "--resolution", "31"), "--resolution 31");
        Corpus.Corpus.CliFails(dir, Args(dir.Path), "is a folder");
        Corpus.Corpus.CliFails(dir, Args(Path.Combine(dir.Path, "a-file", "bench.json")), "is a file");
        // An unwritable place (/proc refuses new files even to root) is found before the benchmark runs, not after.
        Corpus.Corpus.CliFails(dir, Args("/proc/dreambooth-bench/bench.json"), "--output /proc/dreambooth-bench/bench.json: cannot write there");
        Corpus.Corpus.CliFails(dir, Args(output, "--iterations", "x"), "--iterations");
    }
}
