namespace DreamBooth.Schedulers;

/// <summary>
/// Picks a scheduler by a user-facing name (<c>ddim</c>, <c>euler_a</c>, <c>dpm++2m-karras</c>, ...) or a diffusers class
/// name, and builds it from a model's scheduler config the way diffusers' <c>Class.from_config(config)</c> does: keys the
/// class knows are taken from the config, the rest get the class's defaults. The names that stand for a configuration
/// (<c>dpm++2m</c>, <c>dpm++2m-karras</c>) override the keys that define it.
/// </summary>
public static class SchedulerFactory
{
    private sealed record Entry(string Name, string ClassName, Func<SchedulerConfig, SchedulerConfig> Override);

    private static readonly Entry[] Entries =
    [
        new("ddpm", nameof(DDPMScheduler), c => c),
        new("ddim", nameof(DDIMScheduler), c => c),
        new("euler", nameof(EulerDiscreteScheduler), c => c),
        new("euler_a", nameof(EulerAncestralDiscreteScheduler), c => c),
        new("dpm++2m", nameof(DPMSolverMultistepScheduler), c => c with { AlgorithmType = "dpmsolver++", SolverOrder = 2, UseKarrasSigmas = false }),
        new("dpm++2m-karras", nameof(DPMSolverMultistepScheduler), c => c with { AlgorithmType = "dpmsolver++", SolverOrder = 2, UseKarrasSigmas = true }),
        new("pndm", nameof(PNDMScheduler), c => c),
    ];

    private static readonly Dictionary<string, string> Aliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["euler-ancestral"] = "euler_a",
        ["euler_ancestral"] = "euler_a",
        ["euler-a"] = "euler_a",
    };

    /// <summary>The user-facing names, in the order shown in help texts.</summary>
    public static IReadOnlyList<string> Names { get; } = Entries.Select(e => e.Name).ToArray();

    /// <summary>The diffusers class names that are accepted as well (each with the model config as is).</summary>
    public static IReadOnlyList<string> ClassNames { get; } = Entries.Select(e => e.ClassName).Distinct().ToArray();

    /// <summary>One line listing every accepted name, for help texts and errors.</summary>
    public static string ValidNamesText =>
        string.Join(", ", Names.Select(n => n == "euler_a" ? "euler_a (euler-ancestral)" : n)) + ", or a class name (" + string.Join(", ", ClassNames) + ")";

    /// <summary>Whether <paramref name="name"/> is a known scheduler name, alias or class name (case-insensitive).</summary>
    public static bool IsKnown(string name) => Find(name) is not null;

    /// <summary>
    /// Builds the scheduler called <paramref name="name"/> from <paramref name="modelConfig"/> (normally the model's
    /// <c>scheduler/scheduler_config.json</c>), or, when <paramref name="name"/> is null, the class the config names
    /// (<see cref="FromConfig"/>). Unknown names throw a <see cref="DreamBoothException"/> that lists the valid ones.
    /// </summary>
    public static Scheduler Create(string? name, SchedulerConfig modelConfig)
    {
        if (name is null) return FromConfig(modelConfig);
        var entry = Find(name) ?? throw new DreamBoothException($"unknown scheduler '{name}'; valid names: {ValidNamesText}");
        return Build(entry.ClassName, entry.Override(modelConfig));
    }

    /// <summary>Builds the scheduler class named by the config's <c>_class_name</c> (diffusers <c>from_pretrained</c>).</summary>
    public static Scheduler FromConfig(SchedulerConfig config)
    {
        var className = config.ClassName
            ?? throw new DreamBoothException($"{config.Source}: missing _class_name; cannot tell which scheduler to build");
        if (!ClassNames.Contains(className))
            throw new DreamBoothException($"{config.Source}: scheduler class '{className}' is not supported; supported: {string.Join(", ", ClassNames)}");
        return Build(className, config);
    }

    /// <summary>
    /// Reads <c>scheduler_config.json</c> from a scheduler folder (or the file itself) and builds the scheduler named
    /// <paramref name="name"/> from it, or the class the file names when <paramref name="name"/> is null.
    /// </summary>
    public static Scheduler FromPretrained(string schedulerDirOrFile, string? name = null)
    {
        if (name is not null && !IsKnown(name))
            throw new DreamBoothException($"unknown scheduler '{name}'; valid names: {ValidNamesText}");
        var config = SchedulerConfig.Read(schedulerDirOrFile);
        return Create(name, config);
    }

    private static Entry? Find(string name)
    {
        var key = name.Trim();
        if (Aliases.TryGetValue(key, out var alias)) key = alias;
        var entry = Entries.FirstOrDefault(e => string.Equals(e.Name, key, StringComparison.OrdinalIgnoreCase));
        if (entry is not null) return entry;
        var className = ClassNames.FirstOrDefault(c => string.Equals(c, key, StringComparison.OrdinalIgnoreCase));
        return className is null ? null : new Entry(className, className, c => c);
    }

    private static Scheduler Build(string className, SchedulerConfig config) => className switch
    {
        nameof(DDPMScheduler) => new DDPMScheduler(config),
        nameof(DDIMScheduler) => new DDIMScheduler(config),
        nameof(EulerDiscreteScheduler) => new EulerDiscreteScheduler(config),
        nameof(EulerAncestralDiscreteScheduler) => new EulerAncestralDiscreteScheduler(config),
        nameof(DPMSolverMultistepScheduler) => new DPMSolverMultistepScheduler(config),
        nameof(PNDMScheduler) => new PNDMScheduler(config),
        _ => throw new DreamBoothException($"{config.Source}: scheduler class '{className}' is not supported; supported: {string.Join(", ", ClassNames)}"),
    };
}
