//! The generated runbook shared by the plan benchmark and the timing example.

/// A runbook of `steps` steps in waves of `width`; each step needs two steps of the previous
/// wave and reads an output of one of them, so references and ancestry are exercised.
pub fn generated_runbook(steps: usize, width: usize) -> String {
    let mut yaml = String::from(
        "apiVersion: ripcord/v1\nkind: Runbook\nmetadata: {name: generated, version: 1.0.0}\n\
         objectives: {rto: 15m, rpo: 1h}\nparams:\n  bucket: {type: string, default: b}\nsteps:\n",
    );
    for i in 0..steps {
        let wave = i / width;
        yaml.push_str(&format!("  - id: s{i}\n    type: http\n"));
        if wave == 0 {
            yaml.push_str(&format!(
                "    with: {{url: \"http://127.0.0.1/{{{{ params.bucket }}}}/{i}\"}}\n"
            ));
        } else {
            let a = (wave - 1) * width + (i % width);
            let b = (wave - 1) * width + ((i + 1) % width);
            yaml.push_str(&format!(
                "    needs: [s{a}, s{b}]\n    with: {{url: \"http://127.0.0.1/{{{{ steps.s{a}.outputs.code }}}}\"}}\n"
            ));
        }
        yaml.push_str("    outputs: {code: \"{{ result.status }}\"}\n    expected: 1s\n");
    }
    yaml
}
