using System.Text.Json;
using static TorchSharp.torch;

namespace DreamBooth.IO;

/// <summary>What a component folder holds.</summary>
public enum ComponentKind
{
    /// <summary>A network: <c>config.json</c> + weights (<c>unet</c>, <c>vae</c>, <c>text_encoder</c>, <c>text_encoder_2</c>).</summary>
    Model,

    /// <summary>A scheduler: <c>scheduler_config.json</c> only.</summary>
    Scheduler,

    /// <summary>A CLIP BPE tokenizer: <c>vocab.json</c> + <c>merges.txt</c> (+ optional <c>tokenizer_config.json</c>).</summary>
    Tokenizer,
}

/// <summary>
/// One component folder of a diffusers pipeline (or a folder that is a single component), validated: its config file
/// exists and is a JSON object, and for a model its weights were found and their headers read.
/// Models load from it with <c>X.FromPretrained(component, dtype)</c>: <see cref="ReadConfig{T}"/>, build, then
/// <c>using var w = component.OpenWeights(); WeightLoader.Load(model, w);</c>.
/// </summary>
public sealed class ModelComponent
{
    /// <summary>Config file of a model component.</summary>
    public const string ModelConfigFile = "config.json";

    /// <summary>Config file of a scheduler.</summary>
    public const string SchedulerConfigFile = "scheduler_config.json";

    /// <summary>Optional config file of a tokenizer.</summary>
    public const string TokenizerConfigFile = "tokenizer_config.json";

    /// <summary>Files a tokenizer folder must have.</summary>
    public static readonly IReadOnlyList<string> TokenizerFiles = ["vocab.json", "merges.txt"];

    /// <summary>The component's role: its key in <c>model_index.json</c> (<c>unet</c>, <c>text_encoder_2</c>, ...).</summary>
    public string Name { get; }

    /// <summary>What the folder holds.</summary>
    public ComponentKind Kind { get; }

    /// <summary>The component folder.</summary>
    public string Directory { get; }

    /// <summary>The defining Python library (<c>diffusers</c>, <c>transformers</c>), when known.</summary>
    public string? Library { get; }

    /// <summary>The class name (<c>UNet2DConditionModel</c>, <c>DDIMScheduler</c>, <c>CLIPTokenizer</c>), when known.</summary>
    public string? ClassName { get; }

    /// <summary>
    /// The config file: <c>config.json</c> (model), <c>scheduler_config.json</c> (scheduler), <c>tokenizer_config.json</c>
    /// (tokenizer; null when the folder has none).
    /// </summary>
    public string? ConfigPath { get; }

    /// <summary>The weights of a model component; null for schedulers and tokenizers.</summary>
    public ComponentWeights? Weights { get; }

    private ModelComponent(string name, ComponentKind kind, string directory, string? library, string? className, string? configPath, ComponentWeights? weights)
    {
        Name = name;
        Kind = kind;
        Directory = directory;
        Library = library;
        ClassName = className;
        ConfigPath = configPath;
        Weights = weights;
    }

    /// <summary>Reads the config file into a config record (see <see cref="ConfigJson.Read{T}"/>).</summary>
    /// <exception cref="DreamBoothException">No config file, or a config that does not fit <typeparamref name="T"/>.</exception>
    public T ReadConfig<T>() => ConfigPath is null
        ? throw new DreamBoothException($"{Directory}: the {Name} component has no config file")
        : ConfigJson.Read<T>(ConfigPath);

    /// <summary>Opens the weights (one file or all shards) for <see cref="WeightLoader"/>; dispose the reader after loading.</summary>
    /// <exception cref="DreamBoothException">Not a model component, or the files changed since the folder was opened.</exception>
    public ITensorReader OpenWeights() => Weights?.Open()
        ?? throw new DreamBoothException($"{Directory}: the {Name} component ({Kind.ToString().ToLowerInvariant()}) has no weights");

    /// <summary>
    /// Loads every weight tensor, floating-point ones converted to <paramref name="dtype"/> when given (integer tensors
    /// keep their type). The caller owns (disposes) the tensors.
    /// </summary>
    public Dictionary<string, Tensor> LoadStateDict(ScalarType? dtype = null)
    {
        if (dtype is { } d && d is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float64)) throw new ArgumentException($"dtype must be a floating-point type, got {d}", nameof(dtype));
        using var reader = OpenWeights();
        return reader.LoadAll(dtype);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Library} {ClassName}) at {Directory}";

    /// <summary>
    /// Opens a folder that is one component (<c>tiny-sd2/unet</c>, a text encoder folder, a scheduler folder). Its kind
    /// comes from its files (<c>config.json</c>, <c>scheduler_config.json</c>, tokenizer files); its name from the folder
    /// name when that is a known component name, else from the config's class (<c>UNet2DConditionModel</c> → <c>unet</c>).
    /// </summary>
    /// <exception cref="DreamBoothException">Missing folder, not a component folder, or a config/weights problem.</exception>
    public static ModelComponent Open(string directory, ModelFolderOptions? options = null)
    {
        options ??= ModelFolderOptions.Default;
        directory = System.IO.Path.TrimEndingDirectorySeparator(directory);
        if (!System.IO.Directory.Exists(directory))
            throw new DreamBoothException(File.Exists(directory)
                ? $"{directory}: is a file, expected a component folder"
                : $"{directory}: component folder not found");
        if (File.Exists(System.IO.Path.Combine(directory, ModelIndex.FileName)))
            throw new DreamBoothException($"{directory}: is a pipeline folder ({ModelIndex.FileName}), not a single component; open it as a model folder");

        var folderName = System.IO.Path.GetFileName(System.IO.Path.GetFullPath(directory));
        if (File.Exists(System.IO.Path.Combine(directory, ModelConfigFile)))
        {
            var (library, className) = ClassFromConfig(System.IO.Path.Combine(directory, ModelConfigFile));
            var name = KindOf(folderName) == ComponentKind.Model ? folderName : RoleOfClass(className) ?? folderName;
            return Resolve(name, ComponentKind.Model, directory, new ComponentSpec(library, className), options, variantFallback: false);
        }
        if (File.Exists(System.IO.Path.Combine(directory, SchedulerConfigFile)))
        {
            var (library, className) = ClassFromConfig(System.IO.Path.Combine(directory, SchedulerConfigFile));
            var name = KindOf(folderName) == ComponentKind.Scheduler ? folderName : "scheduler";
            return Resolve(name, ComponentKind.Scheduler, directory, new ComponentSpec(library, className), options, variantFallback: false);
        }
        if (TokenizerFiles.Append(TokenizerConfigFile).Any(f => File.Exists(System.IO.Path.Combine(directory, f))))
        {
            string? className = null;
            var config = System.IO.Path.Combine(directory, TokenizerConfigFile);
            if (File.Exists(config))
            {
                using var doc = ReadObject(config);
                className = doc.RootElement.TryGetProperty("tokenizer_class", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
            }
            var name = KindOf(folderName) == ComponentKind.Tokenizer ? folderName : "tokenizer";
            return Resolve(name, ComponentKind.Tokenizer, directory, new ComponentSpec(className is null ? null : "transformers", className), options, variantFallback: false);
        }
        throw new DreamBoothException(
            $"{directory}: not a component folder (no {ModelConfigFile}, {SchedulerConfigFile} or {string.Join("/", TokenizerFiles)})");
    }

    /// <summary>The kind of a known component name (<c>unet</c> → model, <c>tokenizer_2</c> → tokenizer), or null.</summary>
    public static ComponentKind? KindOf(string name) => name switch
    {
        "unet" or "vae" or "text_encoder" or "text_encoder_2" => ComponentKind.Model,
        "scheduler" => ComponentKind.Scheduler,
        "tokenizer" or "tokenizer_2" => ComponentKind.Tokenizer,
        _ => null,
    };

    /// <summary>
    /// Validates a component folder of kind <paramref name="kind"/>. With <paramref name="variantFallback"/>, a model
    /// without files of the requested variant uses its default files (pipeline folders, like diffusers).
    /// </summary>
    internal static ModelComponent Resolve(string name, ComponentKind kind, string dir, ComponentSpec spec, ModelFolderOptions options, bool variantFallback)
    {
        switch (kind)
        {
            case ComponentKind.Model:
            {
                var config = RequireFile(dir, ModelConfigFile, name, spec);
                ReadObject(config).Dispose();
                // transformers saves model.safetensors, diffusers diffusion_pytorch_model.safetensors; accept either.
                bool transformers = spec.Library == "transformers" || (spec.Library is null && name.StartsWith("text_encoder", StringComparison.Ordinal));
                string[] bases = transformers ? ["model", "diffusion_pytorch_model"] : ["diffusion_pytorch_model", "model"];
                var weights = ComponentWeights.Resolve(dir, bases, options.Variant, variantFallback, options.AllowPickle);
                return new ModelComponent(name, kind, dir, spec.Library, spec.ClassName, config, weights);
            }
            case ComponentKind.Scheduler:
            {
                var config = RequireFile(dir, SchedulerConfigFile, name, spec);
                ReadObject(config).Dispose();
                return new ModelComponent(name, kind, dir, spec.Library, spec.ClassName, config, null);
            }
            default:
            {
                foreach (var f in TokenizerFiles) RequireFile(dir, f, name, spec);
                var config = System.IO.Path.Combine(dir, TokenizerConfigFile);
                if (File.Exists(config)) ReadObject(config).Dispose();
                return new ModelComponent(name, kind, dir, spec.Library, spec.ClassName, File.Exists(config) ? config : null, null);
            }
        }
    }

    private static string RequireFile(string dir, string file, string name, ComponentSpec spec)
    {
        var path = System.IO.Path.Combine(dir, file);
        if (!File.Exists(path))
        {
            var what = spec.ClassName is null ? name : $"{name}, {spec.ClassName}";
            throw new DreamBoothException($"{dir}: no {file} ({what})");
        }
        return path;
    }

    private static JsonDocument ReadObject(string path)
    {
        var doc = ConfigJson.ReadDocument(path);
        if (doc.RootElement.ValueKind == JsonValueKind.Object) return doc;
        doc.Dispose();
        throw new DreamBoothException($"{path}: expected a JSON object at the top level");
    }

    // diffusers configs name the class in _class_name; transformers configs in architectures[0].
    private static (string? Library, string? ClassName) ClassFromConfig(string path)
    {
        using var doc = ReadObject(path);
        var root = doc.RootElement;
        if (root.TryGetProperty("_class_name", out var c) && c.ValueKind == JsonValueKind.String) return ("diffusers", c.GetString());
        if (root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array && a.GetArrayLength() > 0 && a[0].ValueKind == JsonValueKind.String)
            return ("transformers", a[0].GetString());
        return (null, null);
    }

    private static string? RoleOfClass(string? className) => className switch
    {
        "UNet2DConditionModel" => "unet",
        "AutoencoderKL" => "vae",
        "CLIPTextModel" or "CLIPTextModelWithProjection" => "text_encoder",
        _ => null,
    };
}
