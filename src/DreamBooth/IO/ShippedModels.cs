namespace DreamBooth.IO;

/// <summary>
/// Finds the models shipped with the project (<c>models/&lt;name&gt;</c>): next to the running program, then in the
/// current folder and its parents (a source checkout), then beside the program's folder and its parents.
/// </summary>
public static class ShippedModels
{
    /// <summary>The folder <c>models/<paramref name="name"/></c>, or a <see cref="DreamBoothException"/> naming where it looked.</summary>
    public static string Find(string name)
    {
        var tried = new List<string>();
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "models", name);
                if (Directory.Exists(candidate)) return candidate;
                tried.Add(dir.FullName);
            }
        throw new DreamBoothException($"shipped model folder models/{name} not found in {Directory.GetCurrentDirectory()} or {AppContext.BaseDirectory} or their parents");
    }
}
