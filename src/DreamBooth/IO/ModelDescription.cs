using System.Globalization;
using System.Text;

namespace DreamBooth.IO;

/// <summary>One opened component in a <see cref="ModelDescription"/>.</summary>
/// <param name="Name">Component name (<c>unet</c>).</param>
/// <param name="Kind">Model, scheduler or tokenizer.</param>
/// <param name="Library">Defining library, when known.</param>
/// <param name="ClassName">Class name, when known.</param>
/// <param name="Directory">Component folder.</param>
/// <param name="Files">Weight files (models) or the config file (others), as file names.</param>
/// <param name="TensorCount">Number of weight tensors (0 for non-models).</param>
/// <param name="ParameterCount">Total weight elements from the headers (0 for non-models).</param>
/// <param name="ElementsByDType">Weight elements per safetensors dtype (<c>F32</c>, <c>F16</c>, ...).</param>
public sealed record ComponentDescription(
    string Name,
    ComponentKind Kind,
    string? Library,
    string? ClassName,
    string Directory,
    IReadOnlyList<string> Files,
    int TensorCount,
    long ParameterCount,
    IReadOnlyDictionary<string, long> ElementsByDType);

/// <summary>A component <c>model_index.json</c> lists that this project does not load (e.g. <c>safety_checker</c>).</summary>
public sealed record UnusedComponent(string Name, string? Library, string? ClassName);

/// <summary>
/// What <see cref="ModelFolder.Describe"/> reports; <see cref="ToString"/> formats it as the text a
/// <c>dreambooth info --model DIR</c> prints.
/// </summary>
/// <param name="Root">The folder.</param>
/// <param name="PipelineClass">The pipeline class, or null for a single-component folder.</param>
/// <param name="DiffusersVersion">The diffusers version that wrote the folder, when recorded.</param>
/// <param name="Variant">The weights variant opened, or null.</param>
/// <param name="Components">Opened components.</param>
/// <param name="Unused">Listed components that are not opened.</param>
public sealed record ModelDescription(
    string Root,
    string? PipelineClass,
    string? DiffusersVersion,
    string? Variant,
    IReadOnlyList<ComponentDescription> Components,
    IReadOnlyList<UnusedComponent> Unused)
{
    /// <summary>Total weight elements over all components.</summary>
    public long ParameterCount => Components.Sum(c => c.ParameterCount);

    /// <summary>A multi-line, human-readable summary (invariant culture).</summary>
    public override string ToString()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var kind = PipelineClass is null ? "single component" : PipelineClass + (DiffusersVersion is null ? "" : $" (diffusers {DiffusersVersion})");
        sb.Append(ci, $"{Root}: {kind}, {ParameterCount.ToString("N0", ci)} parameters");
        if (Variant is not null) sb.Append(ci, $", variant {Variant}");
        sb.AppendLine();
        int nameWidth = Components.Select(c => c.Name.Length).Concat(Unused.Select(u => u.Name.Length)).DefaultIfEmpty(4).Max();
        var classes = Components.Select(c => Class(c.Library, c.ClassName)).Concat(Unused.Select(u => Class(u.Library, u.ClassName))).ToList();
        int classWidth = classes.DefaultIfEmpty("").Max(c => c.Length);
        int countWidth = Components.Select(c => c.ParameterCount.ToString("N0", ci).Length).DefaultIfEmpty(1).Max();
        foreach (var c in Components)
        {
            sb.Append("  ").Append(c.Name.PadRight(nameWidth)).Append("  ").Append(Class(c.Library, c.ClassName).PadRight(classWidth)).Append("  ");
            if (c.Kind == ComponentKind.Model)
            {
                var dtypes = string.Join(" + ", c.ElementsByDType.Select(kv => c.ElementsByDType.Count == 1 ? kv.Key : $"{kv.Key} {kv.Value.ToString("N0", ci)}"));
                sb.Append(ci, $"{c.ParameterCount.ToString("N0", ci).PadLeft(countWidth)} parameters in {c.TensorCount} tensors, {dtypes}, ");
            }
            sb.AppendLine(string.Join(", ", c.Files));
        }
        foreach (var u in Unused)
            sb.Append("  ").Append(u.Name.PadRight(nameWidth)).Append("  ").Append(Class(u.Library, u.ClassName).PadRight(classWidth)).AppendLine("  not used");
        return sb.ToString().TrimEnd();
    }

    private static string Class(string? library, string? className) => className is null ? "?" : library is null ? className : $"{library}.{className}";
}
