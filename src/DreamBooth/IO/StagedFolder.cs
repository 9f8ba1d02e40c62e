namespace DreamBooth.IO;

/// <summary>
/// An output folder that appears whole or not at all: a run writes into a staging folder beside it
/// (<c>OUT.partial</c>, on the same file system) and <see cref="Publish"/> moves it into place by renames at the end,
/// so an interrupted or failed run never touches an earlier result. Used by <c>dreambooth demo</c> and
/// <c>dreambooth tiny-world heldout</c>.
/// </summary>
public static class StagedFolder
{
    /// <summary>The staging folder of <paramref name="outputDir"/> (a sibling, so the final move is a rename on one file system).</summary>
    public static string StagingPath(string outputDir) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(outputDir)) + ".partial";

    /// <summary>
    /// Checks <paramref name="outputDir"/> before any work: not a file, not inside or around one of
    /// <paramref name="inputs"/> (flag, folder), empty unless <paramref name="overwrite"/>, and its staging path free.
    /// </summary>
    /// <exception cref="DreamBoothException">One line naming <c>--output</c> and what is wrong.</exception>
    public static void CheckOutput(string outputDir, bool overwrite, string command, params (string Flag, string Dir)[] inputs)
    {
        if (File.Exists(outputDir)) throw new DreamBoothException($"--output {outputDir}: is a file, not a folder");
        RecoverInterruptedPublish(outputDir);
        foreach (var (flag, dir) in inputs)
            if (Overlap(outputDir, dir))
                throw new DreamBoothException($"--output {outputDir}: overlaps {flag} {dir} (the {command} would write into its own input)");
        if (Directory.Exists(outputDir) && Directory.EnumerateFileSystemEntries(outputDir).Any() && !overwrite)
            throw new DreamBoothException($"--output {outputDir}: exists and is not empty; pass --overwrite to replace it (only once the new run has finished) or choose another folder");
        var staging = StagingPath(outputDir);
        if (File.Exists(staging)) throw new DreamBoothException($"{staging}: is a file; the {command} stages its output there");
        if (Directory.Exists(staging) && !File.Exists(Path.Combine(staging, MarkerFile)))
            throw new DreamBoothException($"{staging}: exists and was not staged by this tool; the {command} stages its output there, so move it away or choose another --output");
        AtomicFile.CheckWritable(Path.Combine(staging, MarkerFile), "--output", outputDir);
    }

    /// <summary>True when <paramref name="dir"/> exists and holds no file at any depth (a run that failed before writing anything).</summary>
    public static bool IsEmptyTree(string dir) => Directory.Exists(dir) && !Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Any();

    /// <summary>The file that marks a staging folder as ours, so that only our own leftovers are ever deleted.</summary>
    public const string MarkerFile = ".dreambooth-staging";

    /// <summary>Creates an empty staging folder for <paramref name="outputDir"/>, removing a crashed earlier run's leftovers.</summary>
    public static string Create(string outputDir)
    {
        string staging = StagingPath(outputDir);
        if (Directory.Exists(staging))
        {
            if (!File.Exists(Path.Combine(staging, MarkerFile)))
                throw new DreamBoothException($"{staging}: exists and was not staged by this tool; move it away or choose another --output");
            Directory.Delete(staging, recursive: true);
        }
        Directory.CreateDirectory(staging);
        File.WriteAllText(Path.Combine(staging, MarkerFile), "");
        return staging;
    }

    /// <summary>
    /// Runs <paramref name="fill"/> on a fresh staging folder for <paramref name="outputDir"/> and publishes it when
    /// <paramref name="fill"/> returns and the run was not cancelled. When <paramref name="fill"/> throws (cancellation
    /// included), the staging folder is removed and <paramref name="outputDir"/> is left as it was; when only the
    /// publishing fails, the finished result stays in the staging folder and the error says so.
    /// </summary>
    public static T Write<T>(string outputDir, bool overwrite, Func<string, T> fill, CancellationToken cancellationToken)
    {
        string staging = Create(outputDir);
        T result;
        try
        {
            result = fill(staging);
            cancellationToken.ThrowIfCancellationRequested();
        }
        catch
        {
            TryDelete(staging);
            throw;
        }
        Publish(staging, outputDir, overwrite);
        return result;
    }

    /// <summary>
    /// Moves <paramref name="staging"/> to <paramref name="outputDir"/>, replacing an existing folder only when
    /// <paramref name="overwrite"/>: the old folder is renamed aside, the new one renamed in, then the old one deleted;
    /// if the second rename fails, the old folder is renamed back.
    /// </summary>
    /// <exception cref="DreamBoothException">The output folder appeared (non-empty) during the run and may not be
    /// replaced, or could not be replaced; the finished result stays in the staging folder (named in the message).</exception>
    public static void Publish(string staging, string outputDir, bool overwrite)
    {
        string? old = null;
        try
        {
            if (Directory.Exists(outputDir))
            {
                if (!overwrite && Directory.EnumerateFileSystemEntries(outputDir).Any())
                    throw new DreamBoothException($"--output {outputDir}: appeared while the run went on; the result is in {staging}");
                // Our process id (so a later run knows whether we still live) and a fresh suffix (a process id repeats
                // across containers and would collide with a crashed run's leftover).
                old = $"{outputDir}{OldInfix}{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..12]}";
                Directory.Move(outputDir, old);
            }
            var parent = Path.GetDirectoryName(outputDir);
            if (!string.IsNullOrEmpty(parent)) Directory.CreateDirectory(parent);
            // The marker goes after the move: killed in between, the published folder keeps a hidden empty file; killed
            // before, the staging folder keeps its marker, so the next run may still clear it.
            Directory.Move(staging, outputDir);
            File.Delete(Path.Combine(outputDir, MarkerFile));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (old is not null && !Directory.Exists(outputDir))
            {
                try
                {
                    Directory.Move(old, outputDir);
                    old = null;
                }
                catch (Exception restore) when (restore is IOException or UnauthorizedAccessException)
                {
                    // Reported below: the earlier result is still whole under its temporary name.
                }
            }
            throw new DreamBoothException($"--output {outputDir}: could not move the result into place ({e.Message}); the result is in {staging}" +
                                          (old is null ? "" : $", the earlier folder in {old}"));
        }
        if (old is not null) TryDelete(old);
    }

    private const string OldInfix = ".old-";

    /// <summary>
    /// Finishes a <see cref="Publish"/> that a killed process left half done: its earlier result, renamed aside to
    /// <c>DIR.old-PID-…</c>, is renamed back when <paramref name="outputDir"/> is missing (killed before the new result moved
    /// in), and deleted when <paramref name="outputDir"/> holds the new result (killed before the clean-up). Folders of a
    /// process that still runs are left alone.
    /// </summary>
    public static void RecoverInterruptedPublish(string outputDir)
    {
        var full = Path.GetFullPath(outputDir).TrimEnd(Path.DirectorySeparatorChar);
        var parent = Path.GetDirectoryName(full);
        if (string.IsNullOrEmpty(parent) || !Directory.Exists(parent)) return;
        string prefix = Path.GetFileName(full) + OldInfix;
        foreach (var old in Directory.EnumerateDirectories(parent, prefix + "*").Order(StringComparer.Ordinal))
        {
            var rest = Path.GetFileName(old)[prefix.Length..];
            int dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest[..dash], out int pid) || AtomicFile.IsRunning(pid)) continue;
            if (!Directory.Exists(full))
            {
                try { Directory.Move(old, full); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            }
            else if (Directory.EnumerateFileSystemEntries(full).Any()) TryDelete(old);
        }
    }

    /// <summary>Deletes a folder, best effort (a leftover staging folder is removed by the next run).</summary>
    public static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>True when one of the two paths is the other or inside it, symbolic links resolved.</summary>
    public static bool Overlap(string a, string b) => IsSameOrInside(a, b) || IsSameOrInside(b, a);

    /// <summary>True when <paramref name="path"/> is <paramref name="folder"/> or inside it, symbolic links resolved.</summary>
    public static bool IsSameOrInside(string path, string folder)
    {
        var p = Path.TrimEndingDirectorySeparator(RealPath(path)) + Path.DirectorySeparatorChar;
        var f = Path.TrimEndingDirectorySeparator(RealPath(folder)) + Path.DirectorySeparatorChar;
        return p.StartsWith(f, StringComparison.Ordinal);
    }

    /// <summary>
    /// The full path with every symbolic link among its existing components resolved (realpath(3) for the part that
    /// exists; the rest appended as written). A model passed as a link to the output folder must count as an overlap,
    /// or replacing the output would delete the model.
    /// </summary>
    public static string RealPath(string path, int depth = 0)
    {
        var full = Path.GetFullPath(path);
        if (depth > 32) return full; // a link cycle: give up resolving, as the OS would (ELOOP)
        var root = Path.GetPathRoot(full)!;
        var parts = full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        string current = root;
        for (int i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(current, parts[i]);
            FileSystemInfo? info = Directory.Exists(next) ? new DirectoryInfo(next) : File.Exists(next) ? new FileInfo(next) : null;
            if (info is null) return Path.Combine([current, .. parts[i..]]);
            if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
                next = RealPath(target.FullName, depth + 1);
            current = next;
        }
        return current;
    }
}
