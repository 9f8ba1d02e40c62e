using System.Text.Json;
using DreamBooth.IO;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Infrastructure;

/// <summary>
/// Access to the golden fixtures (upstream diffusers/transformers outputs). The folder comes from the environment
/// variable DREAMBOOTH_GOLDEN_DIR, defaulting to ../shared/golden relative to the repository root. Tests take every
/// input from these files, so they run unchanged on another fixture set with the same layout.
/// </summary>
public static class Golden
{
    public const string Category = "Golden";

    private static readonly Lazy<string> DirLazy = new(() =>
    {
        var env = Environment.GetEnvironmentVariable("DREAMBOOTH_GOLDEN_DIR");
        var dir = !string.IsNullOrEmpty(env) ? Path.GetFullPath(env) : Path.GetFullPath(Path.Combine(RepoRoot!, "..", "shared", "golden"));
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"golden fixture folder '{dir}' not found (set DREAMBOOTH_GOLDEN_DIR)");
        return dir;
    });

    private static readonly Lazy<JsonDocument> FactsLazy = new(() => JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "outputs", "facts.json"))));

    /// <summary>The repository root (the folder holding DreamBooth.slnx).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The fixture folder.</summary>
    public static string Dir => DirLazy.Value;

    /// <summary>outputs/facts.json.</summary>
    public static JsonElement Facts => FactsLazy.Value.RootElement;

    /// <summary>Path of a file or folder inside the fixture folder.</summary>
    public static string PathOf(params string[] parts) => Path.Combine(new[] { Dir }.Concat(parts).ToArray());

    /// <summary>Loads every tensor of outputs/<paramref name="file"/> (".safetensors" may be omitted).</summary>
    public static Dictionary<string, Tensor> Outputs(string file)
    {
        if (!file.EndsWith(".safetensors")) file += ".safetensors";
        return Safetensors.LoadAll(PathOf("outputs", file));
    }

    /// <summary>Reads a JSON file of the fixture folder.</summary>
    public static JsonDocument Json(params string[] parts) => JsonDocument.Parse(File.ReadAllText(PathOf(parts)));

    /// <summary>
    /// Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise, and equal shapes; the failure message names the
    /// tensor and gives the largest difference and where it is.
    /// </summary>
    public static void AssertClose(Tensor actual, Tensor expected, double atol, double rtol = 0, string name = "")
    {
        using var scope = NewDisposeScope();
        Assert.True(actual.shape.SequenceEqual(expected.shape),
            $"{name}: shape [{string.Join(",", actual.shape)}] != expected [{string.Join(",", expected.shape)}]");
        var a = actual.detach().to(float64).cpu();
        var e = expected.detach().to(float64).cpu();
        var diff = (a - e).abs();
        var tol = atol + rtol * e.abs();
        var bad = diff > tol;
        long nbad = bad.sum().item<long>();
        if (nbad > 0)
        {
            long idx = (diff - tol).flatten().argmax().item<long>();
            double maxDiff = diff.max().item<double>();
            Assert.Fail($"{name}: {nbad} of {e.numel()} elements differ beyond atol {atol:g3} + rtol {rtol:g3}; max |diff| {maxDiff:g4}; " +
                        $"worst at flat index {idx}: actual {a.flatten()[idx].item<double>():g7} vs expected {e.flatten()[idx].item<double>():g7}");
        }
    }

    /// <summary>Asserts closeness with a tolerance relative to the largest |expected| value (atol = rtolOfMax·max|expected|).</summary>
    public static void AssertCloseRelMax(Tensor actual, Tensor expected, double rtolOfMax, string name = "")
    {
        double maxAbs;
        using (var m = expected.abs().max()) maxAbs = m.to(float64).item<double>();
        AssertClose(actual, expected, rtolOfMax * Math.Max(maxAbs, 1e-30), 0, name);
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "DreamBooth.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (DreamBooth.slnx) above " + AppContext.BaseDirectory);
    }
}
