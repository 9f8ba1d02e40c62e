namespace DreamBooth.IO;

/// <summary>
/// The files shipped in the repository (<c>models/</c>, <c>samples/</c>), found from the working directory or the
/// program's directory upwards, so the CLI works from the repository root, a subfolder, or its build output.
/// </summary>
public static class ShippedModels
{
    /// <summary>The folder <c>models/<paramref name="name"/></c>, or a <see cref="DreamBoothException"/> naming where it looked.</summary>
    public static string Find(string name) => FindFolder(Path.Combine("models", name));

    /// <summary>The demo subject's photos, <c>samples/</c>.</summary>
    public static string Samples() => FindFolder("samples");

    /// <summary>The shipped folder at <paramref name="relativePath"/> (from the repository root).</summary>
    public static string FindFolder(string relativePath)
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, relativePath);
                if (Directory.Exists(candidate)) return candidate;
            }
        throw new DreamBoothException($"shipped folder {relativePath} not found in {Directory.GetCurrentDirectory()} or {AppContext.BaseDirectory} or their parents");
    }
}
