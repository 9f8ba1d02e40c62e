using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Unicode;
using static TorchSharp.torch;

namespace DreamBooth.IO;

/// <summary>
/// An open .safetensors checkpoint with validated headers: one file, or the shards of a sharded checkpoint seen as one.
/// Tensors are read one at a time straight into their native buffers, so loading needs about one copy of the weights.
/// </summary>
public sealed class SafetensorsReader : ITensorReader
{
    private sealed record Shard(string Path, FileStream Stream, long DataStart);

    private readonly Shard[] _shards;
    private readonly Dictionary<string, int> _shardOf;

    /// <summary>The file's path; for a sharded checkpoint, the index file's path.</summary>
    public string Path { get; }

    /// <summary>The data files: the file itself, or every shard in index order.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>Tensor entries by name, in file order (shard by shard). Offsets are relative to the holding file.</summary>
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }

    /// <summary>The optional <c>__metadata__</c> string map (for shards: the union, first shard winning).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsReader(string path, Shard[] shards, Dictionary<string, SafetensorsEntry> entries,
        Dictionary<string, int> shardOf, Dictionary<string, string> metadata)
    {
        Path = path;
        _shards = shards;
        Files = shards.Select(s => s.Path).ToList();
        Entries = entries;
        _shardOf = shardOf;
        Metadata = metadata;
    }

    internal static SafetensorsReader OpenFile(string path, SafetensorsLimits limits)
    {
        var stream = OpenStream(path);
        try
        {
            var header = ReadHeader(stream, path, limits);
            var entries = header.Entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
            return new SafetensorsReader(path, [new Shard(path, stream, header.DataStart)], entries,
                entries.Keys.ToDictionary(k => k, _ => 0, StringComparer.Ordinal), header.Metadata);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    internal static SafetensorsReader OpenShards(string indexPath, SafetensorsIndex index, SafetensorsLimits limits)
    {
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!;
        var shards = new List<Shard>();
        try
        {
            var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
            var shardOf = new Dictionary<string, int>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var file in index.ShardFiles)
            {
                var shardPath = System.IO.Path.Combine(dir, file);
                if (!File.Exists(shardPath))
                    throw new DreamBoothException($"{indexPath}: shard '{file}' (holding '{index.WeightMap.First(kv => kv.Value == file).Key}') not found");
                var stream = OpenStream(shardPath);
                Header header;
                try
                {
                    header = ReadHeader(stream, shardPath, limits);
                }
                catch
                {
                    stream.Dispose();
                    throw;
                }
                shards.Add(new Shard(shardPath, stream, header.DataStart));
                foreach (var e in header.Entries)
                {
                    if (shardOf.TryGetValue(e.Name, out int other))
                        throw new DreamBoothException($"{indexPath}: tensor '{e.Name}' is in two shards, '{System.IO.Path.GetFileName(shards[other].Path)}' and '{file}'");
                    if (!index.WeightMap.TryGetValue(e.Name, out var mapped))
                        throw new DreamBoothException($"{shardPath}: tensor '{e.Name}' is not listed in the index weight_map of {indexPath}");
                    if (mapped != file)
                        throw new DreamBoothException($"{indexPath}: weight_map puts tensor '{e.Name}' in '{mapped}' but shard '{file}' holds it");
                    entries[e.Name] = e;
                    shardOf[e.Name] = shards.Count - 1;
                }
                foreach (var (k, v) in header.Metadata) metadata.TryAdd(k, v);
            }
            foreach (var (name, file) in index.WeightMap)
                if (!shardOf.ContainsKey(name))
                    throw new DreamBoothException($"{indexPath}: weight_map puts tensor '{name}' in shard '{file}', which does not hold it");
            return new SafetensorsReader(indexPath, shards.ToArray(), entries, shardOf, metadata);
        }
        catch
        {
            foreach (var s in shards) s.Stream.Dispose();
            throw;
        }
    }

    private static FileStream OpenStream(string path)
    {
        if (Directory.Exists(path)) throw new DreamBoothException($"{path}: is a folder, expected a .safetensors file");
        if (!File.Exists(path)) throw new DreamBoothException($"{path}: weights file not found");
        try
        {
            var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            if (!stream.CanSeek)
            {
                stream.Dispose();
                throw new DreamBoothException($"{path}: not a regular file (cannot seek)");
            }
            return stream;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DreamBoothException($"{path}: cannot open weights file ({e.Message})");
        }
    }

    private sealed record Header(List<SafetensorsEntry> Entries, Dictionary<string, string> Metadata, long DataStart);

    // The header JSON of a valid file nests 3 levels (object > entry > shape); anything deeper is rejected while parsing.
    private const int MaxHeaderDepth = 8;

    private static Header ReadHeader(FileStream stream, string path, SafetensorsLimits limits)
    {
        DreamBoothException Bad(string what) => new($"{path}: not a valid safetensors file: {what}");
        long fileLength = stream.Length;
        if (fileLength < 8) throw Bad($"file is {fileLength} bytes, shorter than the 8-byte header length");
        Span<byte> lenBytes = stackalloc byte[8];
        stream.ReadExactly(lenBytes);
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        // Both checks come before the header buffer is allocated, so a hostile length allocates nothing.
        if (headerLen > (ulong)(fileLength - 8))
            throw Bad($"header length {headerLen} runs past the end of the file ({fileLength} bytes; truncated?)");
        if (headerLen > (ulong)limits.MaxHeaderBytes)
            throw Bad($"header length {headerLen} exceeds the limit of {limits.MaxHeaderBytes} bytes");
        if (headerLen < 2) throw Bad($"header length {headerLen} is too small for a JSON object");
        var json = new byte[headerLen];
        stream.ReadExactly(json);
        long dataStart = 8 + (long)headerLen;
        long dataLength = fileLength - dataStart;

        if (!Utf8.IsValid(json)) throw Bad("header is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = MaxHeaderDepth });
        }
        catch (JsonException e) when (e.Message.Contains("maximum configured depth", StringComparison.Ordinal))
        {
            throw Bad($"header JSON nests deeper than {MaxHeaderDepth} levels");
        }
        catch (JsonException e)
        {
            throw Bad($"header is not valid JSON ({e.Message.Split('\n')[0]})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad($"header JSON is {Article(doc.RootElement.ValueKind)}, not an object");
            if (ConfigJson.HasUnreadableString(doc.RootElement)) throw Bad($"header is {ConfigJson.UnreadableStringMessage}");
            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                string name = prop.Name;
                if (!seen.Add(name)) throw Bad(name == "__metadata__" ? "'__metadata__' appears twice" : $"tensor '{name}' is declared twice");
                if (name == "__metadata__")
                {
                    ReadMetadata(prop.Value, metadata, Bad);
                    continue;
                }
                if (entries.Count >= limits.MaxTensors) throw Bad($"more than {limits.MaxTensors} tensors");
                entries.Add(ParseEntry(name, prop.Value, dataLength, limits, Bad));
            }
            CheckTiling(entries, dataLength, Bad);
            return new Header(entries, metadata, dataStart);
        }
    }

    private static void ReadMetadata(JsonElement v, Dictionary<string, string> metadata, Func<string, DreamBoothException> bad)
    {
        if (v.ValueKind == JsonValueKind.Null) return; // the reference implementation reads null as "no metadata"
        if (v.ValueKind != JsonValueKind.Object) throw bad($"'__metadata__' is {Article(v.ValueKind)}, not an object of strings");
        foreach (var m in v.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String) throw bad($"'__metadata__' value '{m.Name}' is {Article(m.Value.ValueKind)}, not a string");
            if (!metadata.TryAdd(m.Name, m.Value.GetString()!)) throw bad($"'__metadata__' key '{m.Name}' appears twice");
        }
    }

    private static SafetensorsEntry ParseEntry(string name, JsonElement v, long dataLength, SafetensorsLimits limits, Func<string, DreamBoothException> bad)
    {
        if (name.Length == 0) throw bad("a tensor has an empty name");
        if (v.ValueKind != JsonValueKind.Object) throw bad($"tensor '{name}': entry is {Article(v.ValueKind)}, not an object");
        var fields = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in v.EnumerateObject())
        {
            if (p.Name is not ("dtype" or "shape" or "data_offsets")) throw bad($"tensor '{name}': unexpected field '{p.Name}'");
            if (!fields.Add(p.Name)) throw bad($"tensor '{name}': field '{p.Name}' appears twice");
        }

        if (!v.TryGetProperty("dtype", out var dt)) throw bad($"tensor '{name}': missing field 'dtype'");
        if (dt.ValueKind != JsonValueKind.String) throw bad($"tensor '{name}': 'dtype' is {Article(dt.ValueKind)}, not a string");
        string dtype = dt.GetString()!;
        int size = Safetensors.ElementSize(dtype) ?? throw bad($"tensor '{name}': {Safetensors.DescribeUnknownDType(dtype)}");

        if (!v.TryGetProperty("shape", out var sh)) throw bad($"tensor '{name}': missing field 'shape'");
        if (sh.ValueKind != JsonValueKind.Array) throw bad($"tensor '{name}': 'shape' is {Article(sh.ValueKind)}, not an array");
        int rank = sh.GetArrayLength();
        if (rank > limits.MaxRank) throw bad($"tensor '{name}': {rank} dimensions, more than {limits.MaxRank}");
        var shape = new long[rank];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
                throw bad($"tensor '{name}': shape entry {d.GetRawText()} is not a non-negative integer");
            shape[i++] = dim;
        }

        if (!v.TryGetProperty("data_offsets", out var off)) throw bad($"tensor '{name}': missing field 'data_offsets'");
        if (off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw bad($"tensor '{name}': 'data_offsets' {off.GetRawText()} is not a [begin, end] pair");
        long begin = 0, end = 0;
        bool integers = off[0].ValueKind == JsonValueKind.Number && off[0].TryGetInt64(out begin)
                        && off[1].ValueKind == JsonValueKind.Number && off[1].TryGetInt64(out end);
        if (!integers || begin < 0 || end < begin)
            throw bad($"tensor '{name}': data_offsets {off.GetRawText()} are not integers with 0 <= begin <= end");
        if (end > dataLength)
            throw bad($"tensor '{name}': data_offsets [{begin}, {end}] run past the {dataLength} data bytes in the file (truncated?)");

        // The byte count the shape needs; null when it does not fit in 64 bits (a hostile shape: nothing is allocated).
        long? needed = ByteCount(shape, size);
        if (end - begin != needed)
            throw bad($"tensor '{name}': data_offsets span {end - begin} bytes but {dtype} shape [{string.Join(", ", shape)}] needs {(needed is { } n ? n.ToString() : "more than 2^63")}");
        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    private static long? ByteCount(long[] shape, int elementSize)
    {
        if (shape.Contains(0)) return 0;
        long bytes = elementSize;
        foreach (long d in shape)
        {
            if (bytes > long.MaxValue / d) return null;
            bytes *= d;
        }
        return bytes;
    }

    // Offsets must tile the data section exactly, as the reference implementation requires: no overlap, no gap, no tail.
    private static void CheckTiling(List<SafetensorsEntry> entries, long dataLength, Func<string, DreamBoothException> bad)
    {
        long covered = 0;
        SafetensorsEntry? previous = null;
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.Begin < covered)
                throw bad($"tensor '{e.Name}' data [{e.Begin}, {e.End}) overlaps tensor '{previous!.Name}' [{previous.Begin}, {previous.End})");
            if (e.Begin > covered)
                throw bad($"tensor '{e.Name}' starts at {e.Begin}, leaving a gap of {e.Begin - covered} bytes after offset {covered}");
            if (e.End > covered || previous is null) previous = e;
            covered = Math.Max(covered, e.End);
        }
        if (covered != dataLength)
            throw bad($"tensor data covers {covered} bytes but the file holds {dataLength} bytes after the header");
    }

    private static string Article(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    /// <summary>Reads one tensor; floating-point data is converted to <paramref name="floatType"/> when given.</summary>
    /// <exception cref="DreamBoothException">No such tensor, or the file cannot be read (changed or truncated since opening).</exception>
    public Tensor Load(string name, ScalarType? floatType = null)
    {
        if (!Entries.TryGetValue(name, out var e)) throw new DreamBoothException($"{Path}: no tensor named '{name}'");
        var shard = _shards[_shardOf[name]];
        var t = empty(e.Shape, e.ScalarType);
        try
        {
            lock (shard.Stream)
            {
                shard.Stream.Seek(shard.DataStart + e.Begin, SeekOrigin.Begin);
                Safetensors.ReadNative(shard.Stream, t);
            }
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException)
        {
            t.Dispose();
            throw new DreamBoothException($"{shard.Path}: cannot read tensor '{name}' ({ex.Message})");
        }
        if (floatType is { } ft && t.is_floating_point() && t.dtype != ft)
        {
            var c = t.to_type(ft);
            t.Dispose();
            return c;
        }
        return t;
    }

    /// <summary>Reads every tensor (see <see cref="Load"/>); on failure nothing is left allocated.</summary>
    public Dictionary<string, Tensor> LoadAll(ScalarType? floatType = null)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var name in Entries.Keys) result[name] = Load(name, floatType);
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>Closes the file(s).</summary>
    public void Dispose()
    {
        foreach (var s in _shards) s.Stream.Dispose();
    }
}
