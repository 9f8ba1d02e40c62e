using System.Text.Json;
using DreamBooth.Data;

namespace DreamBooth.Evaluation;

/// <summary>An image file and the prompt that made it (null when unknown).</summary>
public sealed record PromptedImage(string Path, string? Prompt);

/// <summary>
/// Lists a folder of generated images with their prompts, taken from (first match wins) a manifest
/// <c>prompts.json</c> in the folder (<c>{"file.png": "prompt", ...}</c>), the PNG's A1111 <c>parameters</c> text
/// (first line = prompt), or a sidecar <c>NAME.txt</c> holding the prompt.
/// </summary>
public static class PromptedImages
{
    public const string ManifestFile = "prompts.json";

    /// <summary>The images in <paramref name="dir"/> (sorted by name) with their prompts; with <paramref name="requirePrompts"/>, a missing prompt is an error naming the file.
    /// Files of a format the decoder cannot read are skipped with a message to <paramref name="warn"/>.</summary>
    public static IReadOnlyList<PromptedImage> Read(string dir, bool requirePrompts, Action<string>? warn = null)
    {
        // The contact sheet that generate, demo and heldout write beside their images is an overview, not an image.
        var files = ImageIO.ListImages(dir, warn).Where(f => !ContactSheet.IsSheetName(System.IO.Path.GetFileName(f))).ToList();
        if (files.Count == 0) throw new DreamBoothException($"{dir}: {ImageIO.NoImages}");
        var manifest = ReadManifest(dir);
        var list = new List<PromptedImage>(files.Count);
        foreach (var file in files)
        {
            var prompt = manifest?.GetValueOrDefault(System.IO.Path.GetFileName(file)) ?? FromPng(file) ?? FromSidecar(file);
            if (requirePrompts && string.IsNullOrWhiteSpace(prompt))
                throw new DreamBoothException($"{file}: no prompt found (PNG text 'parameters', {System.IO.Path.GetFileNameWithoutExtension(file)}.txt or {ManifestFile})");
            list.Add(new PromptedImage(file, prompt));
        }
        return list;
    }

    private static Dictionary<string, string>? ReadManifest(string dir)
    {
        var path = System.IO.Path.Combine(dir, ManifestFile);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(path)) ?? new(); }
        catch (JsonException e) { throw new DreamBoothException($"{path}: expected a JSON object mapping file names to prompts ({e.Message.Split('\n')[0]})"); }
    }

    private static string? FromPng(string file)
    {
        if (!file.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) return null;
        var bytes = File.ReadAllBytes(file);
        // A JPEG named .png has no PNG text; the decoder reads it (with a note), as training does. An empty file is
        // left to the PNG reader, which names it.
        if (bytes.Length > 0 && !PngText.IsPng(bytes)) return null;
        var text = PngText.Get(PngText.Read(bytes, file), GenerationParameters.PngKey);
        return text is null ? null : GenerationParameters.Parse(text).Prompt;
    }

    private static string? FromSidecar(string file)
    {
        var txt = System.IO.Path.ChangeExtension(file, ".txt");
        return File.Exists(txt) ? File.ReadAllText(txt).Trim() : null;
    }
}
