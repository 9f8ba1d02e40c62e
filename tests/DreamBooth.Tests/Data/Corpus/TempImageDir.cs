using System.Security.Cryptography;

namespace DreamBooth.Tests.Data.Corpus;

/// <summary>
/// A temporary directory for generated corpus files, deleted on dispose, with a snapshot of every entry (name, size,
/// modification time, SHA-256) so a test can assert that reading the files wrote or changed nothing.
/// </summary>
internal sealed class TempImageDir : IDisposable
{
    public TempImageDir()
    {
        Path = Directory.CreateTempSubdirectory("dreambooth-data-").FullName;
    }

    public string Path { get; }

    public string Write(string name, byte[] bytes)
    {
        var p = System.IO.Path.Combine(Path, name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    public string WriteText(string name, string text) => Write(name, System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>Every entry below the directory, with its size, time and content hash, in a stable order.</summary>
    public IReadOnlyList<string> Snapshot() =>
        Directory.EnumerateFileSystemEntries(Path, "*", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .Select(p => File.Exists(p)
                ? $"{p} {new FileInfo(p).Length} {File.GetLastWriteTimeUtc(p):O} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p)))}"
                : $"{p}/")
            .ToList();

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
