using System.Security.Cryptography;
using DreamBooth.IO;

namespace DreamBooth.Training;

/// <summary>
/// A cheap identity of a model folder, to tell whether a checkpoint or an output folder belongs to the same base model:
/// SHA-256 over model_index.json, every component's config and tokenizer files, and for every weights file its length
/// and its first and last MiB (headers plus data at both ends: two fine-tunes of one architecture differ there, while
/// hashing gigabytes would take minutes).
/// </summary>
public static class ModelFingerprint
{
    private const int Window = 1 << 20;

    /// <summary>The fingerprint as 16 hex digits.</summary>
    public static string Compute(ModelFolder model)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void AddText(string s) => sha.AppendData(System.Text.Encoding.UTF8.GetBytes(s + "\n"));
        void AddFile(string path, bool whole)
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            AddText($"{Path.GetFileName(path)} {fs.Length}");
            if (whole || fs.Length <= 2L * Window)
            {
                fs.CopyTo(new HashStream(sha));
                return;
            }
            var buffer = new byte[Window];
            fs.ReadExactly(buffer);
            sha.AppendData(buffer);
            fs.Seek(-Window, SeekOrigin.End);
            fs.ReadExactly(buffer);
            sha.AppendData(buffer);
        }

        if (model.Index is not null) AddFile(Path.Combine(model.Root, ModelIndex.FileName), whole: true);
        foreach (var (name, component) in model.Components.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            AddText("component " + name);
            if (component.ConfigPath is not null) AddFile(component.ConfigPath, whole: true);
            if (component.Kind == ComponentKind.Tokenizer)
                foreach (var f in ModelComponent.TokenizerFiles) AddFile(Path.Combine(component.Directory, f), whole: true);
            foreach (var f in component.Weights?.Files ?? []) AddFile(f, whole: false);
        }
        return Convert.ToHexString(sha.GetHashAndReset())[..16].ToLowerInvariant();
    }

    // Streams file bytes into the hash without buffering the whole file.
    private sealed class HashStream(IncrementalHash hash) : Stream
    {
        public override void Write(byte[] buffer, int offset, int count) => hash.AppendData(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => hash.AppendData(buffer);
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
