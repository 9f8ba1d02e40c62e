using System.Globalization;
using System.Text;
using DreamBooth.IO;

namespace DreamBooth.Training;

/// <summary>One optimizer step in <c>logs/train_log.csv</c>.</summary>
/// <param name="Step">Optimizer step (1-based).</param>
/// <param name="Epoch">Epoch of the step's last batch (0-based).</param>
/// <param name="Loss">Total loss, the mean over the step's micro-batches.</param>
/// <param name="InstanceLoss">Instance loss, same averaging.</param>
/// <param name="PriorLoss">Prior loss; null without prior preservation.</param>
/// <param name="LearningRate">The UNet group's learning rate used by the step.</param>
/// <param name="GradNorm">Total gradient norm before clipping.</param>
/// <param name="StepSeconds">Wall time of the step (forward, backward, optimizer).</param>
public sealed record TrainingLogRow(int Step, int Epoch, double Loss, double InstanceLoss, double? PriorLoss, double LearningRate, double GradNorm, double StepSeconds);

/// <summary>
/// The per-step training log, a CSV with a header, appended and flushed after every step. Resuming from a checkpoint
/// first drops the rows after the checkpoint's step (and a torn last line from a killed run), so the file always
/// describes one consistent history.
/// </summary>
public sealed class TrainingLog : IDisposable
{
    /// <summary>The CSV header.</summary>
    public const string Header = "step,epoch,loss,instance_loss,prior_loss,lr,grad_norm,step_seconds";

    private readonly List<TrainingLogRow> _rows;
    private readonly StreamWriter _writer;

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>The rows so far (kept ones plus appended ones).</summary>
    public IReadOnlyList<TrainingLogRow> Rows => _rows;

    private TrainingLog(string path, List<TrainingLogRow> rows, StreamWriter writer)
    {
        Path = path;
        _rows = rows;
        _writer = writer;
    }

    /// <summary>Opens the log, keeping only well-formed rows with step ≤ <paramref name="keepUpToStep"/> (0 for a fresh run).</summary>
    public static TrainingLog Open(string path, int keepUpToStep)
    {
        var rows = new List<TrainingLogRow>();
        if (File.Exists(path))
            foreach (var line in File.ReadLines(path).Skip(1))
                if (TryParse(line, out var row) && row.Step <= keepUpToStep && (rows.Count == 0 || row.Step > rows[^1].Step)) rows.Add(row);
        var text = new StringBuilder(Header).Append('\n');
        foreach (var r in rows) text.Append(Format(r)).Append('\n');
        AtomicFile.WriteAllText(path, text.ToString());
        var writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read), new UTF8Encoding(false));
        return new TrainingLog(path, rows, writer);
    }

    /// <summary>Appends a row and flushes it to the OS.</summary>
    public void Append(TrainingLogRow row)
    {
        _rows.Add(row);
        _writer.Write(Format(row));
        _writer.Write('\n');
        _writer.Flush();
    }

    private static string Format(TrainingLogRow r) => string.Join(",",
        r.Step.ToString(CultureInfo.InvariantCulture), r.Epoch.ToString(CultureInfo.InvariantCulture), F(r.Loss), F(r.InstanceLoss),
        r.PriorLoss is double p ? F(p) : "", F(r.LearningRate), F(r.GradNorm), r.StepSeconds.ToString("0.####", CultureInfo.InvariantCulture));

    private static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static bool TryParse(string line, out TrainingLogRow row)
    {
        row = null!;
        var f = line.Split(',');
        if (f.Length != 8) return false;
        static bool D(string s, out double v) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v);
        if (!int.TryParse(f[0], NumberStyles.None, CultureInfo.InvariantCulture, out int step) || !int.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out int epoch)
            || !D(f[2], out var loss) || !D(f[3], out var inst) || !D(f[5], out var lr) || !D(f[6], out var norm) || !D(f[7], out var secs))
            return false;
        double? prior = null;
        if (f[4].Length > 0)
        {
            if (!D(f[4], out var p)) return false;
            prior = p;
        }
        row = new TrainingLogRow(step, epoch, loss, inst, prior, lr, norm, secs);
        return true;
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _writer.Dispose();
}
