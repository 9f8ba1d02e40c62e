using System.Text.Json;
using DreamBooth.IO;
using DreamBooth.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Evaluation;

/// <summary>
/// A trained probe: load it from a folder (<c>config.json</c> + <c>model.safetensors</c>), then <see cref="Analyze"/>
/// images. The shipped probe lives in <c>models/probe/</c> (<see cref="DefaultDirectory"/>).
/// </summary>
public sealed class Probe : IDisposable
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";
    public const string TrainingFile = "training.json";

    /// <summary>Stages whose maps form the perceptual embedding (the first three: 32², 16², 8² positions).</summary>
    public const int PerceptualStages = 3;

    public Probe(ProbeNetwork network)
    {
        Network = network;
        Network.eval();
    }

    public ProbeNetwork Network { get; }
    public ProbeConfig Config => Network.Config;

    /// <summary>The folder the probe was loaded from (null when built in memory).</summary>
    public string? Source { get; private init; }

    /// <summary>The shipped probe folder (<c>models/probe</c> of the repository or installation).</summary>
    public static string DefaultDirectory => ShippedModels.Find("probe");

    /// <summary>Loads a probe folder; heads must match the world's label sets.</summary>
    public static Probe Load(string dir)
    {
        var configPath = Path.Combine(dir, ConfigFile);
        if (!File.Exists(configPath)) throw new DreamBoothException($"{dir}: not a probe folder ({ConfigFile} missing)");
        var config = ConfigJson.Read<ProbeConfig>(configPath);
        config.Validate(configPath);
        foreach (var task in ProbeTasks.All)
            if (!config.Heads.TryGetValue(task.Name, out var n) || n != task.Labels.Count)
                throw new DreamBoothException($"{configPath}: head '{task.Name}' must have {task.Labels.Count} labels for this world");
        var net = new ProbeNetwork(config);
        WeightLoader.Load(net, Path.Combine(dir, WeightsFile));
        return new Probe(net) { Source = Path.GetFullPath(dir) };
    }

    /// <summary>Writes config, weights and (optionally) the training record into <paramref name="dir"/>.</summary>
    public void Save(string dir, object? trainingRecord = null)
    {
        Directory.CreateDirectory(dir);
        ConfigJson.Write(Path.Combine(dir, ConfigFile), Config);
        Safetensors.Save(Path.Combine(dir, WeightsFile), Network.state_dict(), new Dictionary<string, string> { ["format"] = "pt" });
        if (trainingRecord is not null)
            AtomicFile.WriteAllBytes(Path.Combine(dir, TrainingFile), JsonSerializer.SerializeToUtf8Bytes(trainingRecord, ConfigJson.Options));
    }

    /// <summary>Analyses images [N, 3, H, W] with values in [0, 1] (resized to the probe's resolution when needed).</summary>
    public IReadOnlyList<ProbeResult> Analyze(Tensor images, int batchSize = 64)
    {
        if (images.dim() != 4 || images.shape[1] != 3) throw new DreamBoothException($"probe input must be [N, 3, H, W], got [{string.Join(", ", images.shape)}]");
        var results = new List<ProbeResult>((int)images.shape[0]);
        using var _ = no_grad();
        for (long start = 0; start < images.shape[0]; start += batchSize)
        {
            using var noGc = NoGcScope.Enter();             // see NoGcScope: TorchSharp's Scalar race
            using var scope = NewDisposeScope();
            var x = images.narrow(0, start, Math.Min(batchSize, images.shape[0] - start)).to(ScalarType.Float32);
            if (x.shape[2] != Config.ImageSize || x.shape[3] != Config.ImageSize)
                x = nn.functional.interpolate(x, new long[] { Config.ImageSize, Config.ImageSize }, mode: InterpolationMode.Bilinear, align_corners: false, antialias: true);
            results.AddRange(Describe(Network.Run(x.mul(2).sub(1), withMaps: true)));
        }
        return results;
    }

    /// <summary>Converts a batch of network outputs to per-image results.</summary>
    internal static IEnumerable<ProbeResult> Describe(ProbeOutputs o)
    {
        long n = o.Features.shape[0];
        var features = Rows(o.Features);
        var identity = Rows(o.Identity);
        var perceptual = Rows(cat(o.FeatureMaps.Take(PerceptualStages).Select(m =>
            nn.functional.normalize(m, p: 2, dim: 1, eps: 1e-8).div(Math.Sqrt(m.shape[2] * m.shape[3])).flatten(1)).ToArray(), 1));
        var labels = new Dictionary<string, long[]>();
        var conf = new Dictionary<string, float[]>();
        foreach (var (name, logits) in o.Logits)
        {
            var (p, idx) = logits.softmax(1).max(1);
            labels[name] = idx.data<long>().ToArray();
            conf[name] = p.data<float>().ToArray();
        }
        for (int i = 0; i < n; i++)
            yield return new ProbeResult(features[i], identity[i], perceptual[i],
                labels.ToDictionary(kv => kv.Key, kv => (int)kv.Value[i]), conf.ToDictionary(kv => kv.Key, kv => kv.Value[i]));
    }

    private static float[][] Rows(Tensor t)
    {
        var flat = t.detach().contiguous().data<float>().ToArray();
        int n = (int)t.shape[0], d = (int)t.shape[1];
        return Enumerable.Range(0, n).Select(i => flat.AsSpan(i * d, d).ToArray()).ToArray();
    }

    public void Dispose() => Network.Dispose();
}
