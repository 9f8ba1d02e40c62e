namespace DreamBooth.IO;

/// <summary>How a model folder is opened.</summary>
/// <param name="Variant">
/// Weights variant to load, as diffusers' <c>variant=</c>: <c>"fp16"</c> reads <c>diffusion_pytorch_model.fp16.safetensors</c>
/// (or its sharded index) instead of the default files. In a pipeline folder a component without the variant uses its
/// default files (<see cref="ComponentWeights.Variant"/> tells which), but at least one component must have it; a
/// single-component folder must have it. Null reads the default files.
/// </param>
/// <param name="AllowPickle">
/// Load PyTorch pickle weights (<c>diffusion_pytorch_model.bin</c>, <c>pytorch_model.bin</c>) when a component has no
/// .safetensors weights, through <see cref="PickleCheckpoint"/>'s restricted unpickler, which only rebuilds tensors and
/// refuses every other global (the CLI's <c>--allow-pickle</c>). Off by default: pickle files are refused with how to convert them.
/// </param>
public sealed record ModelFolderOptions(string? Variant = null, bool AllowPickle = false)
{
    /// <summary>Default weights, no variant.</summary>
    public static ModelFolderOptions Default { get; } = new();
}

/// <summary>
/// A Stable Diffusion model folder in the diffusers layout — <c>model_index.json</c> plus one folder per component
/// (<c>unet</c>, <c>vae</c>, <c>text_encoder</c>, <c>text_encoder_2</c>, <c>tokenizer</c>, <c>tokenizer_2</c>,
/// <c>scheduler</c>) — or a folder that is a single component. <see cref="Open"/> validates everything it can without
/// loading tensors (every listed component's folder, config and weights headers), so a bad folder fails in a second
/// with one line, not in the middle of a run. Safetensors weights are read; pickle files are refused unless
/// <see cref="ModelFolderOptions.AllowPickle"/> is set.
/// </summary>
public sealed class ModelFolder
{
    /// <summary>The component names this project loads; other entries of <c>model_index.json</c> (e.g. <c>safety_checker</c>) are listed but not opened.</summary>
    public static readonly IReadOnlyList<string> KnownComponents = ["unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler"];

    /// <summary>The folder as given.</summary>
    public string Root { get; }

    /// <summary>The pipeline record; null when the folder is a single component.</summary>
    public ModelIndex? Index { get; }

    /// <summary>The options it was opened with.</summary>
    public ModelFolderOptions Options { get; }

    /// <summary>The opened components by name, in <see cref="KnownComponents"/> order.</summary>
    public IReadOnlyDictionary<string, ModelComponent> Components { get; }

    private ModelFolder(string root, ModelIndex? index, ModelFolderOptions options, IReadOnlyDictionary<string, ModelComponent> components)
    {
        Root = root;
        Index = index;
        Options = options;
        Components = components;
    }

    /// <summary>
    /// Opens and validates a pipeline folder (with <c>model_index.json</c>) or a single-component folder.
    /// </summary>
    /// <exception cref="DreamBoothException">One line naming the path and what is wrong.</exception>
    public static ModelFolder Open(string path, ModelFolderOptions? options = null)
    {
        options ??= ModelFolderOptions.Default;
        path = Path.TrimEndingDirectorySeparator(path);
        if (File.Exists(path)) throw NotAFolder(path);
        if (!Directory.Exists(path)) throw new DreamBoothException($"{path}: model folder not found");

        var indexPath = Path.Combine(path, ModelIndex.FileName);
        if (!File.Exists(indexPath))
        {
            if (LooksLikeComponent(path))
            {
                var single = ModelComponent.Open(path, options);
                return new ModelFolder(path, null, options, new Dictionary<string, ModelComponent> { [single.Name] = single });
            }
            throw NotAModel(path);
        }

        var index = ModelIndex.Read(indexPath);
        RequireStableDiffusion(index, indexPath);
        var components = new Dictionary<string, ModelComponent>(StringComparer.Ordinal);
        foreach (var name in KnownComponents)
        {
            if (!index.Components.TryGetValue(name, out var spec) || !spec.IsPresent) continue;
            var kind = ModelComponent.KindOf(name)!.Value;
            var dir = Path.Combine(path, name);
            if (!Directory.Exists(dir))
                throw new DreamBoothException($"{indexPath}: lists component '{name}' ({spec}) but folder {dir} is missing");
            components[name] = ModelComponent.Resolve(name, kind, dir, spec, options, variantFallback: true);
        }
        // Like diffusers: components without the variant use their default files, but some component must have it.
        if (options.Variant is { } variant && components.Values.All(c => c.Weights?.Variant != variant))
            throw new DreamBoothException($"{path}: no component has '{variant}' variant weights (e.g. unet/diffusion_pytorch_model.{variant}.safetensors)");
        return new ModelFolder(path, index, options, components);
    }

    /// <summary>The UNet classes this project implements; other denoisers (DiT transformers, video UNets) are refused up front.</summary>
    public static readonly IReadOnlyList<string> SupportedUnetClasses = ["UNet2DConditionModel"];

    // A pipeline folder is a Stable Diffusion model only with a UNet2DConditionModel; anything else (Flux, Kandinsky, a
    // video pipeline) would otherwise open "successfully" with whatever components happen to share our names.
    private static void RequireStableDiffusion(ModelIndex index, string indexPath)
    {
        var listed = string.Join(", ", index.Components.Where(c => c.Value.IsPresent).Select(c => $"{c.Key} ({c.Value.ClassName})"));
        if (!index.Components.TryGetValue("unet", out var unet) || !unet.IsPresent)
            throw new DreamBoothException($"{indexPath}: pipeline '{index.ClassName}' is not supported: it has no unet, so it is not a Stable Diffusion model (components: {(listed.Length == 0 ? "none" : listed)})");
        if (!SupportedUnetClasses.Contains(unet.ClassName))
            throw new DreamBoothException($"{indexPath}: pipeline '{index.ClassName}' is not supported: its unet is a {unet.ClassName}; only {string.Join(", ", SupportedUnetClasses)} is implemented");
    }

    /// <summary>True when the folder has the component.</summary>
    public bool Has(string name) => Components.ContainsKey(name);

    /// <summary>The component <paramref name="name"/>.</summary>
    /// <exception cref="DreamBoothException">The folder has no such component; the message says what it has.</exception>
    public ModelComponent this[string name] => Components.TryGetValue(name, out var c) ? c : throw Missing(name);

    /// <summary>A summary for printing: components, classes, weight files, dtypes and parameter counts (from headers).</summary>
    public ModelDescription Describe()
    {
        var components = Components.Values.Select(c => new ComponentDescription(
            c.Name, c.Kind, c.Library, c.ClassName, c.Directory,
            FilesOf(c),
            c.Weights?.Entries.Count ?? 0,
            c.Weights?.ParameterCount ?? 0,
            c.Weights?.ElementsByDType ?? new Dictionary<string, long>())).ToList();
        var unused = (Index?.Components ?? new Dictionary<string, ComponentSpec>())
            .Where(kv => kv.Value.IsPresent && !Components.ContainsKey(kv.Key))
            .Select(kv => new UnusedComponent(kv.Key, kv.Value.Library, kv.Value.ClassName)).ToList();
        return new ModelDescription(Root, Index?.ClassName, Index?.DiffusersVersion, Options.Variant, components, unused);
    }

    private static List<string> FilesOf(ModelComponent c)
    {
        if (c.Weights is { } w) return w.Files.Select(f => Path.GetFileName(f)).ToList();
        var files = c.Kind == ComponentKind.Tokenizer ? ModelComponent.TokenizerFiles.ToList() : [];
        if (c.ConfigPath is not null) files.Add(Path.GetFileName(c.ConfigPath));
        return files;
    }

    private DreamBoothException Missing(string name)
    {
        string have = Components.Count == 0 ? "none" : string.Join(", ", Components.Keys);
        if (Index is null) return new DreamBoothException($"{Root}: is a single {string.Join("", Components.Keys)} component, not a pipeline with a '{name}'");
        if (Index.Components.TryGetValue(name, out var spec) && !spec.IsPresent)
            return new DreamBoothException($"{Root}: the model has no '{name}' ({ModelIndex.FileName} lists it as [null, null]; components: {have})");
        if (spec is not null)
            return new DreamBoothException($"{Root}: component '{name}' ({spec}) is not one this project loads (components: {have})");
        return new DreamBoothException($"{Root}: the model has no '{name}' component (components: {have})");
    }

    private static bool LooksLikeComponent(string path) =>
        new[] { ModelComponent.ModelConfigFile, ModelComponent.SchedulerConfigFile, ModelComponent.TokenizerConfigFile }
            .Concat(ModelComponent.TokenizerFiles)
            .Any(f => File.Exists(Path.Combine(path, f)));

    private static DreamBoothException NotAFolder(string path)
    {
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext is ".safetensors" || PickleWeights.IsPickle(path))
            return new DreamBoothException($"{path}: is a weights file, expected a diffusers model folder (a single-file checkpoint converts in Python with " +
                                           "StableDiffusionPipeline.from_single_file(path).save_pretrained(out, safe_serialization=True))");
        return new DreamBoothException($"{path}: is a file, expected a diffusers model folder");
    }

    private static DreamBoothException NotAModel(string path)
    {
        var what = $"{path}: not a model folder: no {ModelIndex.FileName} (pipeline) and no {ModelComponent.ModelConfigFile}, " +
                   $"{ModelComponent.SchedulerConfigFile} or {string.Join("/", ModelComponent.TokenizerFiles)} (single component)";
        var subfolders = KnownComponents.Where(c => Directory.Exists(Path.Combine(path, c))).ToList();
        if (subfolders.Count > 0)
            return new DreamBoothException($"{what}; it has component folders {string.Join(", ", subfolders)}: open one of them, or add a {ModelIndex.FileName}");
        var checkpoint = Directory.EnumerateFiles(path).Select(Path.GetFileName).OfType<string>()
            .Where(f => f.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || PickleWeights.IsPickle(f))
            .Order(StringComparer.Ordinal).FirstOrDefault();
        if (checkpoint is not null)
            return new DreamBoothException($"{what}; {checkpoint} may be a single-file checkpoint: convert it in Python with " +
                                           "StableDiffusionPipeline.from_single_file(path).save_pretrained(out, safe_serialization=True)");
        return new DreamBoothException(what);
    }
}
