using System.Text;
using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Schedulers;
using DreamBooth.Tokenization;
using static TorchSharp.torch;

namespace DreamBooth.Fuzz;

/// <summary>
/// One parser under fuzzing: it takes the raw bytes of one input file and runs the library on it the way a user's
/// file would be run (open, validate, load every tensor, build a scheduler, encode a prompt). Selector targets read
/// the first byte of the input to choose which file of a folder the rest of the input replaces.
/// </summary>
/// <param name="Name">The name used on the command line (<c>./fuzz safetensors 600</c>).</param>
/// <param name="Description">What is fuzzed.</param>
/// <param name="Run">Runs one input in a workspace; returns normally or throws.</param>
public sealed record FuzzTarget(string Name, string Description, Action<byte[], FuzzWorkspace> Run);

/// <summary>
/// The fuzz targets, shared by the AFL++ harness (<c>fuzz/DreamBooth.Fuzz</c>) and the bounded property test of the
/// normal suite, with the one rule both enforce: an input either loads, or fails with a
/// <see cref="DreamBoothException"/> whose message is one non-empty line; anything else (another exception type, a
/// multi-line message, more managed memory than the input can justify) is a finding.
/// </summary>
public static class FuzzTargets
{
    /// <summary>Managed bytes one input may allocate: a fixed allowance plus a multiple of its size.</summary>
    public static long AllocationBudget(int inputLength) => (64L << 20) + 64L * inputLength;

    /// <summary>Every target, by name.</summary>
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new("safetensors", "a .safetensors file: header validation, then every tensor loaded (and converted to bf16)", RunSafetensors),
        new("config", "model-folder configs: selector byte 0 unet, 1 vae, 2 text encoder, 3 scheduler (built, timesteps set), 4 model_index.json (folder opened), 5 sharded index", RunConfig),
        new("tokenizer", "tokenizer files: selector byte 0 vocab.json, 1 merges.txt, 2 tokenizer_config.json, 3 special_tokens_map.json, 4 added_tokens.json; then a prompt is encoded and decoded", RunTokenizer),
        new("pickle", "a PyTorch pickle checkpoint (zip or legacy) read by the restricted unpickler, every tensor loaded", RunPickle),
    ];

    /// <summary>The target called <paramref name="name"/>.</summary>
    public static FuzzTarget Find(string name) =>
        All.FirstOrDefault(t => t.Name == name) ?? throw new ArgumentException($"unknown fuzz target '{name}'; targets: {string.Join(", ", All.Select(t => t.Name))}");

    /// <summary>
    /// Runs one input and enforces the outcome rule: returns the <see cref="DreamBoothException"/> message (or null on
    /// success); throws <see cref="FuzzFindingException"/> for a multi-line or empty message or an allocation over budget;
    /// lets every other exception through (to AFL++ that is a crash).
    /// </summary>
    public static string? RunChecked(FuzzTarget target, byte[] input, FuzzWorkspace workspace)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        string? message = null;
        try
        {
            target.Run(input, workspace);
        }
        catch (DreamBoothException e)
        {
            message = e.Message;
            if (message.Length == 0 || message.Any(c => c != '\t' && (char.IsControl(c) || c is '\u2028' or '\u2029')))
                throw new FuzzFindingException($"{target.Name}: DreamBoothException message is empty or not one line: {message.ReplaceLineEndings("⏎")}", e);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (allocated > AllocationBudget(input.Length))
            throw new FuzzFindingException($"{target.Name}: a {input.Length}-byte input allocated {allocated} managed bytes");
        return message;
    }

    private static void RunSafetensors(byte[] input, FuzzWorkspace ws)
    {
        var path = ws.Write("input.safetensors", input);
        using var reader = Safetensors.Open(path);
        foreach (var (name, entry) in reader.Entries)
        {
            using var scope = NewDisposeScope();
            var t = reader.Load(name, entry.ScalarType == ScalarType.Float32 ? ScalarType.BFloat16 : null);
            if (t.numel() != entry.ElementCount) throw new InvalidOperationException($"tensor '{name}' loaded {t.numel()} elements, header says {entry.ElementCount}");
        }
    }

    private static void RunConfig(byte[] input, FuzzWorkspace ws)
    {
        if (input.Length == 0) return;
        var json = input.AsSpan(1);
        switch (input[0] % 6)
        {
            case 0:
            {
                var c = ConfigJson.Parse<UNet2DConditionConfig>(json, "unet/config.json");
                c.Validate("unet/config.json");
                _ = (c.AttentionHeads, c.CrossAttentionDims, c.TransformerLayers, c.UpTransformerLayers, c.LayersPerBlockList, c.MinimumParameterCount());
                break;
            }
            case 1:
            {
                var c = ConfigJson.Parse<AutoencoderKLConfig>(json, "vae/config.json");
                c.Validate("vae/config.json");
                _ = c.MinimumParameterCount();
                break;
            }
            case 2:
            {
                var c = ConfigJson.Parse<CLIPTextConfig>(json, "text_encoder/config.json");
                c.Validate("text_encoder/config.json");
                _ = c.MinimumParameterCount();
                break;
            }
            case 3:
            {
                var config = SchedulerConfig.Parse(json, "scheduler/scheduler_config.json");
                using var scheduler = SchedulerFactory.FromConfig(config);
                scheduler.SetTimesteps(Math.Min(25, scheduler.NumTrainTimesteps));
                break;
            }
            case 4:
            {
                ws.Write(Path.Combine(ws.Pipeline, ModelIndex.FileName), json);
                var folder = ModelFolder.Open(ws.Pipeline);
                _ = folder.Describe().ToString();
                break;
            }
            default:
            {
                var index = ws.Write(Path.Combine(ws.Shards, "model.safetensors.index.json"), json);
                using var reader = Safetensors.OpenSharded(index);
                foreach (var name in reader.Entries.Keys) reader.Load(name).Dispose();
                break;
            }
        }
    }

    private static readonly string[] TokenizerFileNames =
        [ClipTokenizer.VocabFileName, ClipTokenizer.MergesFileName, TokenizerConfig.FileName, TokenizerConfig.SpecialTokensMapFileName, ClipTokenizer.AddedTokensFileName];

    private static void RunTokenizer(byte[] input, FuzzWorkspace ws)
    {
        if (input.Length == 0) return;
        var dir = ws.FreshTokenizer();
        ws.Write(Path.Combine(dir, TokenizerFileNames[input[0] % TokenizerFileNames.Length]), input.AsSpan(1));
        var tokenizer = ClipTokenizer.FromPretrained(dir);
        foreach (var prompt in FuzzWorkspace.Prompts)
        {
            var encoded = tokenizer.Encode(prompt);
            _ = tokenizer.Decode(encoded.InputIds, skipSpecialTokens: true);
            _ = tokenizer.Decode(encoded.InputIds);
        }
    }

    private static void RunPickle(byte[] input, FuzzWorkspace ws)
    {
        var path = ws.Write("input.bin", input);
        using var reader = PickleCheckpoint.Open(path);
        foreach (var (name, entry) in reader.Entries)
        {
            using var t = reader.Load(name);
            if (t.numel() != entry.ElementCount) throw new InvalidOperationException($"tensor '{name}' loaded {t.numel()} elements, header says {entry.ElementCount}");
        }
    }
}

/// <summary>An input broke the outcome rule without throwing an unexpected exception of its own.</summary>
public sealed class FuzzFindingException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A scratch folder for one fuzzing process: the input file, a small pipeline folder (whose <c>model_index.json</c> the
/// config target replaces), two safetensors shards (for the sharded-index case) and a small tokenizer folder.
/// </summary>
public sealed class FuzzWorkspace : IDisposable
{
    /// <summary>Prompts the tokenizer target encodes: plain text, special tokens, punctuation, non-ASCII, a long one.</summary>
    public static readonly string[] Prompts =
    [
        "a photo of sks dog, on the beach!",
        "<|startoftext|>the dog<|endoftext|> !! it's 3.5 cafés — 東京 🐕",
        string.Join(' ', Enumerable.Repeat("the dog", 60)),
    ];

    private readonly Dictionary<string, byte[]> _tokenizerFiles = new(StringComparer.Ordinal);
    private int _fresh;

    /// <summary>The workspace root (under /dev/shm when available: inputs are written for every execution).</summary>
    public string Root { get; }

    /// <summary>A pipeline folder with tiny unet, vae, text_encoder, tokenizer and scheduler components.</summary>
    public string Pipeline { get; }

    /// <summary>A folder with two shards holding tensors "a" and "b".</summary>
    public string Shards { get; }

    /// <summary>Creates the workspace and its template files.</summary>
    public FuzzWorkspace()
    {
        var parent = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        Root = Directory.CreateDirectory(Path.Combine(parent, $"dreambooth-fuzz-{Environment.ProcessId}-{Guid.NewGuid():N}")).FullName;
        Pipeline = Path.Combine(Root, "pipeline");
        Shards = Path.Combine(Root, "shards");
        WritePipeline();
        WriteShards();
        foreach (var (name, content) in SeedTokenizerFiles()) _tokenizerFiles[name] = content;
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="relative"/> (or an absolute path) and returns the path.</summary>
    public string Write(string relative, ReadOnlySpan<byte> bytes)
    {
        var path = Path.IsPathRooted(relative) ? relative : Path.Combine(Root, relative);
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write);
        fs.Write(bytes);
        return path;
    }

    /// <summary>A tokenizer folder holding the template files, rewritten so that the previous input leaves nothing behind.</summary>
    public string FreshTokenizer()
    {
        var dir = Path.Combine(Root, "tokenizer-" + (_fresh++ % 2));
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        foreach (var (name, content) in _tokenizerFiles) File.WriteAllBytes(Path.Combine(dir, name), content);
        return dir;
    }

    /// <summary>
    /// The template tokenizer files (also the tokenizer seeds): a CLIP-style vocabulary of the 256 byte characters, the
    /// same with "&lt;/w&gt;", one token per merge and the two special tokens; a few merges; configs like SD1's.
    /// </summary>
    public static IReadOnlyDictionary<string, byte[]> SeedTokenizerFiles()
    {
        string[] merges = ["t h", "th e</w>", "d o", "do g</w>", "p h", "ph o", "pho t", "phot o</w>", "a </w>"];
        var alphabet = ByteLevelAlphabet.ByteToChar.OrderBy(c => c).ToList();
        var tokens = alphabet.Select(c => c.ToString()).Concat(alphabet.Select(c => c + "</w>"))
            .Concat(merges.Select(m => m.Replace(" ", ""))).Append("<|startoftext|>").Append("<|endoftext|>").Distinct().ToList();
        var vocab = new StringBuilder("{");
        for (int i = 0; i < tokens.Count; i++)
            vocab.Append(i == 0 ? "" : ",").Append(System.Text.Json.JsonSerializer.Serialize(tokens[i])).Append(':').Append(i);
        vocab.Append('}');
        return new Dictionary<string, byte[]>
        {
            [ClipTokenizer.VocabFileName] = Encoding.UTF8.GetBytes(vocab.ToString()),
            [ClipTokenizer.MergesFileName] = Encoding.UTF8.GetBytes("#version: 0.2\n" + string.Join("\n", merges) + "\n"),
            [TokenizerConfig.FileName] = """
                {"add_prefix_space": false, "bos_token": "<|startoftext|>", "clean_up_tokenization_spaces": true, "do_lower_case": true,
                 "eos_token": "<|endoftext|>", "errors": "replace", "model_max_length": 77, "pad_token": "<|endoftext|>",
                 "tokenizer_class": "CLIPTokenizer", "unk_token": "<|endoftext|>",
                 "added_tokens_decoder": {"600": {"content": "<sks>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false, "special": false}}}
                """u8.ToArray(),
            [TokenizerConfig.SpecialTokensMapFileName] = """
                {"bos_token": {"content": "<|startoftext|>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
                 "eos_token": "<|endoftext|>", "pad_token": "!", "unk_token": "<|endoftext|>"}
                """u8.ToArray(),
            [ClipTokenizer.AddedTokensFileName] = """{"<cat-toy>": 601}"""u8.ToArray(),
        };
    }

    private void WritePipeline()
    {
        Directory.CreateDirectory(Pipeline);
        File.WriteAllText(Path.Combine(Pipeline, ModelIndex.FileName), """
            {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.3", "feature_extractor": [null, null],
             "requires_safety_checker": false, "safety_checker": [null, null], "scheduler": ["diffusers", "DDIMScheduler"],
             "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}
            """);
        foreach (var (component, file, config) in new[]
                 {
                     ("unet", "diffusion_pytorch_model.safetensors", """{"_class_name": "UNet2DConditionModel", "in_channels": 4}"""),
                     ("vae", "diffusion_pytorch_model.safetensors", """{"_class_name": "AutoencoderKL"}"""),
                     ("text_encoder", "model.safetensors", """{"architectures": ["CLIPTextModel"]}"""),
                 })
        {
            var dir = Directory.CreateDirectory(Path.Combine(Pipeline, component)).FullName;
            File.WriteAllText(Path.Combine(dir, "config.json"), config);
            using var w = ones(2, 3);
            Safetensors.Save(Path.Combine(dir, file), new Dictionary<string, Tensor> { ["w"] = w });
        }
        var tok = Directory.CreateDirectory(Path.Combine(Pipeline, "tokenizer")).FullName;
        File.WriteAllText(Path.Combine(tok, "vocab.json"), """{"a": 0}""");
        File.WriteAllText(Path.Combine(tok, "merges.txt"), "#version: 0.2\na b\n");
        var sched = Directory.CreateDirectory(Path.Combine(Pipeline, "scheduler")).FullName;
        File.WriteAllText(Path.Combine(sched, "scheduler_config.json"), """{"_class_name": "DDIMScheduler"}""");
    }

    private void WriteShards()
    {
        Directory.CreateDirectory(Shards);
        using var a = ones(4);
        using var b = zeros(2, 2, dtype: ScalarType.Float16);
        Safetensors.Save(Path.Combine(Shards, "model-00001-of-00002.safetensors"), new Dictionary<string, Tensor> { ["a"] = a });
        Safetensors.Save(Path.Combine(Shards, "model-00002-of-00002.safetensors"), new Dictionary<string, Tensor> { ["b"] = b });
    }

    /// <summary>Deletes the workspace.</summary>
    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
