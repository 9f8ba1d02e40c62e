using System.Text;
using System.Text.Json;
using DreamBooth.IO;
using DreamBooth.Tests.IO.Pickle;
using static TorchSharp.torch;

namespace DreamBooth.Fuzz;

/// <summary>
/// Seed corpora: the valid golden files where they are small (configs, scheduler configs, model index), and small
/// generated files where the golden ones are large (safetensors with every dtype, a tokenizer folder, pickles).
/// Golden files come from <c>DREAMBOOTH_GOLDEN_DIR</c> or <c>../shared/golden</c> beside the repository.
/// </summary>
public static class Seeds
{
    /// <summary>Writes the seeds of <paramref name="target"/> into <paramref name="dir"/> (created).</summary>
    public static void Write(FuzzTarget target, string dir)
    {
        Directory.CreateDirectory(dir);
        int n = 0;
        foreach (var (name, bytes) in For(target.Name))
            File.WriteAllBytes(Path.Combine(dir, $"{n++:D2}-{name}"), bytes);
        Console.WriteLine($"{n} seeds for {target.Name} in {dir}");
    }

    /// <summary>The seeds of a target by name: (file name, bytes).</summary>
    public static IEnumerable<(string Name, byte[] Bytes)> For(string target) => target switch
    {
        "safetensors" => SafetensorsSeeds(),
        "config" => ConfigSeeds(),
        "tokenizer" => TokenizerSeeds(),
        "pickle" => PickleSeeds(),
        _ => throw new ArgumentException($"no seeds for '{target}'"),
    };

    /// <summary>The golden fixture folder.</summary>
    public static string GoldenDir =>
        Environment.GetEnvironmentVariable("DREAMBOOTH_GOLDEN_DIR") is { Length: > 0 } d ? d
            : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "golden"));

    private static string RepoRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "DreamBooth.slnx"))) return d.FullName;
            return Directory.GetCurrentDirectory();
        }
    }

    private static IEnumerable<(string, byte[])> SafetensorsSeeds()
    {
        var tmp = Path.Combine(Path.GetTempPath(), $"dreambooth-seeds-{Environment.ProcessId}.safetensors");
        byte[] Save(Dictionary<string, Tensor> tensors, Dictionary<string, string>? metadata = null)
        {
            Safetensors.Save(tmp, tensors, metadata);
            foreach (var t in tensors.Values) t.Dispose();
            var bytes = File.ReadAllBytes(tmp);
            File.Delete(tmp);
            return bytes;
        }
        yield return ("f32-i64-metadata.safetensors", Save(new()
        {
            ["conv_in.weight"] = arange(6, ScalarType.Float32).reshape(2, 3),
            ["conv_in.bias"] = tensor(new float[] { 0.5f, -1 }),
            ["position_ids"] = arange(3, ScalarType.Int64),
        }, new() { ["format"] = "pt" }));
        yield return ("every-dtype.safetensors", Save(new()
        {
            ["f64"] = ones(2, ScalarType.Float64),
            ["f16"] = ones(3, ScalarType.Float16),
            ["bf16"] = ones(2, 2, dtype: ScalarType.BFloat16),
            ["i32"] = ones(1, ScalarType.Int32),
            ["i16"] = ones(2, ScalarType.Int16),
            ["i8"] = ones(3, ScalarType.Int8),
            ["u8"] = ones(1, ScalarType.Byte),
            ["bool"] = ones(2, ScalarType.Bool),
        }));
        yield return ("scalar-empty.safetensors", Save(new()
        {
            ["scalar"] = tensor(3.5f),
            ["empty"] = zeros(0, 4),
            ["rank4"] = ones(1, 2, 1, 2),
        }));
        yield return ("header-only.safetensors", Save(new()));
    }

    private static IEnumerable<(string, byte[])> ConfigSeeds()
    {
        var golden = GoldenDir;
        (int Selector, string Path)[] files =
        [
            (0, "tiny-sd1/unet/config.json"), (0, "tiny-sd2/unet/config.json"), (0, "tiny-sdxl-unet/config.json"),
            (1, "tiny-sd1/vae/config.json"),
            (2, "tiny-sd1/text_encoder/config.json"), (2, "clip-text-proj-gelu/config.json"),
            (3, "tiny-sd1/scheduler/scheduler_config.json"), (3, "tiny-sd2/scheduler/scheduler_config.json"),
            (4, "tiny-sd1/model_index.json"),
        ];
        foreach (var (selector, relative) in files)
        {
            var path = Path.Combine(golden, relative);
            if (File.Exists(path)) yield return (Name(selector, relative), Prefix(selector, File.ReadAllBytes(path)));
        }
        // Every scheduler class and option set that the golden schedules were made with.
        var schedules = Path.Combine(golden, "outputs", "schedulers.json");
        if (File.Exists(schedules))
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(schedules));
            foreach (var p in doc.RootElement.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty("config", out var config))
                    yield return ($"3-scheduler-{p.Name}.json", Prefix(3, Encoding.UTF8.GetBytes(config.GetRawText())));
        }
        yield return ("5-index.json", Prefix(5, """
            {"metadata": {"total_size": 24}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
            """u8.ToArray()));
    }

    private static IEnumerable<(string, byte[])> TokenizerSeeds()
    {
        var names = new[] { "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json" };
        foreach (var (name, bytes) in FuzzWorkspace.SeedTokenizerFiles())
            yield return ($"{Array.IndexOf(names, name)}-{name}", Prefix(Array.IndexOf(names, name), bytes));
        foreach (var sd in new[] { "tiny-sd1", "tiny-sd2" })
            foreach (var (selector, file) in new[] { (2, "tokenizer_config.json"), (3, "special_tokens_map.json") })
            {
                var path = Path.Combine(GoldenDir, sd, "tokenizer", file);
                if (File.Exists(path)) yield return ($"{selector}-{sd}-{file}", Prefix(selector, File.ReadAllBytes(path)));
            }
    }

    private static IEnumerable<(string, byte[])> PickleSeeds()
    {
        using var f32 = arange(6, ScalarType.Float32).reshape(2, 3);
        using var f16 = ones(3, ScalarType.Float16);
        using var ids = arange(4, ScalarType.Int64);
        var tensors = new Dictionary<string, Tensor> { ["conv_in.weight"] = f32, ["conv_in.bias"] = f16, ["position_ids"] = ids };
        yield return ("zip-ordereddict.bin", TorchPickleWriter.SaveZip(tensors, TorchPickleWriter.Layout.OrderedDict));
        yield return ("zip-dict-parameters.bin", TorchPickleWriter.SaveZip(tensors, TorchPickleWriter.Layout.ParameterDict));
        yield return ("zip-state-dict-key.ckpt", TorchPickleWriter.SaveZip(tensors, TorchPickleWriter.Layout.NestedStateDict));
        yield return ("legacy.bin", TorchPickleWriter.SaveLegacy(tensors));
        // Checkpoints written by PyTorch itself (tests/DreamBooth.Tests/IO/Pickle/Fixtures/make_fixtures.py).
        var fixtures = Path.Combine(RepoRoot, "tests", "DreamBooth.Tests", "IO", "Pickle", "Fixtures");
        if (Directory.Exists(fixtures))
            foreach (var f in Directory.EnumerateFiles(fixtures).Where(f => f.EndsWith(".bin") || f.EndsWith(".pt") || f.EndsWith(".ckpt")).Order())
                yield return (Path.GetFileName(f), File.ReadAllBytes(f));
    }


    private static byte[] Prefix(int selector, byte[] content) => [(byte)selector, .. content];

    private static string Name(int selector, string relative) => $"{selector}-{relative.Replace('/', '-')}";
}
